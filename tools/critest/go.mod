// A module of Berth's own whose only job is to build cri-tools' critest
// conformance binary (`go test -c`) at the version Berth is validated against.
module berth.local/tools/critest

go 1.24

require sigs.k8s.io/cri-tools v1.36.0
