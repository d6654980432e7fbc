package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"handler/function/local/bench/load"
)

// Result is what a child measured.
type Result struct {
	Summary load.Summary
	// Started is when the child's run began (wall clock).
	Started time.Time
	// CPU is the user and system time of the child process over its whole
	// life: what generating the load cost.
	CPU time.Duration
}

// Run runs spec in a child process started from exe (the benchmark's own
// executable), passing each message it writes before its summary to onMessage
// (which may be nil). Ending ctx interrupts the child, which then reports
// what it did until then.
func Run(ctx context.Context, exe string, spec Spec, onMessage func(Message)) (Result, error) {
	if err := spec.Validate(); err != nil {
		return Result{}, err
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, exe, ChildArg)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = RequestTimeout + 5*time.Second // its calls in flight end within their timeout
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := cmd.Start(); err != nil {
		return Result{}, fmt.Errorf("start the load generator: %w", err)
	}
	last, readErr := read(stdout, onMessage)
	if readErr != nil {
		io.Copy(io.Discard, stdout) // so that Wait does not block on a child still writing
	}
	waitErr := cmd.Wait()
	if err := errors.Join(readErr, waitErr); err != nil {
		return Result{}, fmt.Errorf("load generator: %w (its stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return Result{Summary: *last.Done, Started: last.Started, CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// read decodes messages from r until the one with the summary, which it
// returns after passing every other one (and that one's Created) to onMessage.
func read(r io.Reader, onMessage func(Message)) (Message, error) {
	dec := json.NewDecoder(r)
	for {
		var m Message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, fmt.Errorf("read its report: %w", err)
		}
		if onMessage != nil && (m.Done == nil || len(m.Created) > 0) {
			onMessage(Message{Progress: m.Progress, Created: m.Created})
		}
		if m.Done != nil {
			return m, nil
		}
	}
}
