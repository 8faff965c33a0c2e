// etcd for the one-node test cluster (scripts/cluster), built in the same `go build` as the
// Kubernetes binaries so it uses the etcd server release kubernetes itself is tested with.
// etcd's own command lives in a module (go.etcd.io/etcd/v3) that cannot be built from the module
// proxy without its local replacements; etcdmain is the whole command behind it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
