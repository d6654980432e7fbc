package fnbuild

import (
	"strings"
)

const (
	// functionModule is the import path the template gives the function folder.
	functionModule = "handler/function"
	// contextModule is the module name the template's main.go is built in.
	contextModule = "handler"
	// functionDir is where faas-cli puts the handler inside a build context.
	functionDir = "function"
)

// rewriteGoMod turns the function's go.mod into the build context's go.mod,
// with the effect the template's modules-cleanup.sh has:
//
//  1. a local replace "=> ./x" now points into the function folder, "=> ./function/x";
//  2. every line that mentions handler/function after white space is dropped (the
//     module line, a require of it, a replace of it, and comments that name it);
//  3. the module is called handler and handler/function is replaced by ./function,
//     so the template's main package can import the function.
//
// It works on lines, like the script's sed and grep, and so keeps the rest of
// the file byte for byte.
func rewriteGoMod(src []byte) []byte {
	var lines []string
	for line := range strings.Lines(string(src)) {
		if mentionsFunctionModule(line) {
			continue
		}
		lines = append(lines, strings.Replace(line, "=> ./", "=> ./"+functionDir+"/", 1))
	}

	moduleLine := "module " + contextModule + "\n"
	renamed := false
	for i, line := range lines {
		// A module directive that survived step 2 names the module some other
		// way (quoted, say): rename it rather than declare a second module.
		if fields := strings.Fields(line); len(fields) > 0 && fields[0] == "module" {
			lines[i] = moduleLine
			renamed = true
			break
		}
	}
	if !renamed {
		lines = append([]string{moduleLine, "\n"}, lines...)
	}

	var b strings.Builder
	for _, line := range lines {
		b.WriteString(line)
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteString("\n")
	}
	b.WriteString("\nreplace " + functionModule + " => ./" + functionDir + "\n")
	return []byte(b.String())
}

// mentionsFunctionModule reports whether handler/function follows a white-space
// character somewhere in line: the script's grep -v "\shandler/function".
func mentionsFunctionModule(line string) bool {
	for i := 1; i < len(line); i++ {
		if isSpace(line[i-1]) && strings.HasPrefix(line[i:], functionModule) {
			return true
		}
	}
	return false
}

// isSpace matches the POSIX [[:space:]] class that grep's \s stands for.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}
