//go:build unix && !linux

package kafkacluster

import "syscall"

// sysProcAttr starts a broker in its own process group (or session, when
// detached), so that a Ctrl-C at the terminal reaches only the Go program.
// Without Linux's parent-death signal an attached broker can outlive a
// starter that is killed; Stop or `kafka-cluster stop` ends it.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true}
}

// isBroker reports whether pid is alive. Without /proc the command line
// cannot be checked, so a reused pid is taken for the broker.
func isBroker(pid int, _ string) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
