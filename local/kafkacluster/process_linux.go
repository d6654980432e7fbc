package kafkacluster

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sysProcAttr starts a broker in its own process group, so that a Ctrl-C at
// the terminal reaches only the Go program, which stops the brokers in order.
// Attached brokers also get SIGKILL from the kernel when the thread that
// started them dies (startProcess keeps that thread alive for as long as the
// broker runs), so that a test killed by its timeout leaves no JVM behind.
// Detached brokers get a session of their own and outlive their starter.
func sysProcAttr(detach bool) *syscall.SysProcAttr {
	if detach {
		return &syscall.SysProcAttr{Setsid: true}
	}
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// isBroker reports whether pid is a live process (not a zombie) whose
// command line holds propsFile: our broker, not whatever reused its pid.
func isBroker(pid int, propsFile string) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold spaces and parentheses.
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	for _, arg := range bytes.Split(cmdline, []byte{0}) {
		if string(arg) == propsFile {
			return true
		}
	}
	return false
}
