// Command kubectl is upstream's, built for Lattice's tests and users
// without one.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		// Pretty-print the error and exit with an error.
		util.CheckErr(err)
	}
}
