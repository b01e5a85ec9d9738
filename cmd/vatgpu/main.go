// Command vatgpu trains the seed's MNIST CNN with Virtual Adversarial
// Training on an NVIDIA GPU or the CPU.
//
// Exit codes: 0 success, 1 a failure at run time, 2 a usage error (bad
// flag or argument). Errors print one line and no stack trace.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}
