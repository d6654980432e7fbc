package kafkacluster

import (
	"os/exec"
	"path/filepath"
	"testing"

	"handler/function/local/testenv"
)

func TestIsBroker(t *testing.T) {
	props := filepath.Join(t.TempDir(), "server.properties")
	// The properties file as an argument, as java gets it.
	cmd := exec.Command("sh", "-c", "sleep 60", props)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Start returns once the child has begun its exec, a moment before the
	// kernel sets up its arguments: /proc/<pid>/cmdline may still be empty
	// (the test lost that race in CI once).
	testenv.MustEventually(t, "isBroker true for the running process", func() bool { return isBroker(pid, props) })
	if isBroker(pid, filepath.Join(t.TempDir(), "other.properties")) {
		t.Fatal("isBroker = true for another broker's properties: a reused pid would be taken for ours")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Killed but not reaped yet: a zombie is not a running broker. The
	// kernel delivers SIGKILL asynchronously, so give it a moment.
	testenv.MustEventually(t, "isBroker false for a killed, unreaped process", func() bool { return !isBroker(pid, props) })
	cmd.Wait()
	if isBroker(pid, props) {
		t.Fatal("isBroker = true after the process exited")
	}
}
