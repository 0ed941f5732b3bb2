package worker_test

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the child if the test process dies
// without running its clean-up.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
