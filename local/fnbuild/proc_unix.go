//go:build unix

package fnbuild

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes cancelling cmd kill its whole process group, so a
// cancelled go test takes the test binaries it started with it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
