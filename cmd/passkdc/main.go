// Stock Samba DCs generate LDAPS certificates with random serial numbers, about
// half of them negative, which Go refuses to parse unless this setting is on.

//go:debug x509negativeserial=1

// Command passkdc is the passkdc server and its administration tool.
//
// It is a thin layer: flags and wiring only. All logic lives in library packages
// (keytabs, kdc, ldapsync, assertion, store) and is tested there.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "passkdc:", err)
		os.Exit(exitCode(err))
	}
}

// usageError marks errors caused by how the command was called (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) {
		return 2
	}
	return 1
}
