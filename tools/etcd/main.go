// Command etcd is a thin wrapper so etcd 3.6 can be built from the Go module proxy
// (`go install go.etcd.io/etcd/server/v3@...` refuses its replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
