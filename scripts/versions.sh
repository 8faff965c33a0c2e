# The versions of the external parts Berth is built and tested against.
# Sourced by scripts/setup; test/daemon/compose.test.ts checks docker-compose.test.yml names the same ones.
TEMPORAL_CLI_VERSION=1.5.1
CRI_TOOLS_VERSION=1.36.0
CRI_API_VERSION=0.36.0
# Kubernetes node and cluster binaries (tools/kubernetes/go.mod names the same release)
KUBERNETES_VERSION=1.36.3
# the etcd server release kubernetes $KUBERNETES_VERSION requires (tools/kubernetes/go.mod)
ETCD_VERSION=3.6.8
# the Ginkgo release kubernetes $KUBERNETES_VERSION's e2e.test is built with (its runner must match)
GINKGO_VERSION=2.28.1
# runc built from the Go module proxy: Berth's default handler (idmapped mounts for user namespaces
# need runc >= 1.2; Debian's 1.1.5 stays as the runc-debian handler); the benchmarks' containerd uses it too
RUNC_VERSION=1.5.3
# CRIU for checkpoint/restore (KEP-2008), built by setup from Debian's source archive (trixie's
# upstream tarball): bookworm's criu 3.17 cannot run on this kernel (6.18 splits the vDSO's vvar area)
CRIU_VERSION=4.1.1
# containerd 2.x built from the Go module proxy: the anchor of the benchmarks (Debian's 1.6 beside it),
# installed in its own folder of the tools cache so its `containerd` and `ctr` never shadow Debian's
CONTAINERD_VERSION=2.4.2
CRIU_SHA256=f80a66cb3726bb2116266d4759ce3bcbfab7abdb6b6d430bf20dd41911717afe
NATS_SERVER_VERSION=2.9.10
REGISTRY_VERSION=2.8.2
DEBIAN_PACKAGES="runc crun runsc conmon containernetworking-plugins iptables iproute2 nats-server docker-registry skopeo umoci busybox-static zstd util-linux containerd gcc libc6-dev libseccomp-dev pkg-config curl xz-utils make libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler libnl-3-dev libnet1-dev libcap-dev libbsd-dev libnftables-dev uuid-dev libgnutls28-dev prometheus chromium qemu-system-x86 kmod"
