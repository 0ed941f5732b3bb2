//go:build !linux

package worker_test

import "os/exec"

// dieWithParent does nothing here: only Linux offers a parent-death signal.
// The test's clean-up still kills the children.
func dieWithParent(*exec.Cmd) {}
