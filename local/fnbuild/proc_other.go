//go:build !unix

package fnbuild

import "os/exec"

// setProcessGroup leaves cmd as it is: cancelling kills only the go command.
func setProcessGroup(*exec.Cmd) {}
