// Package greeting is a shared package the stub function imports the way the
// real functions import functions/pkg/...
package greeting

// Prefix starts every echoed body.
func Prefix() string { return "echo: " }
