// A module of Berth's own whose only job is to build cri-tools' crictl and critest (`go test -c`)
// at the version Berth is validated against. (`go install crictl@version` cannot be used: it asks
// the module proxy for the version list, which the proxy here refuses.)
module berth.local/tools/critools

go 1.26

require sigs.k8s.io/cri-tools v1.36.0
