package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// confirmKey carries how a destructive command may be confirmed.
type confirmKey struct{}

type confirmation struct {
	yes bool
	in  io.Reader
	out io.Writer
	tty bool
}

// withConfirmation puts the command's --yes and its terminal into ctx.
func withConfirmation(cmd *cobra.Command, yes bool) context.Context {
	in := cmd.InOrStdin()
	tty := false
	if f, ok := in.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd())) // /dev/null is a character device, not a terminal
	}
	return context.WithValue(cmd.Context(), confirmKey{}, confirmation{yes: yes, in: in, out: cmd.ErrOrStderr(), tty: tty})
}

// confirm lets a destructive action on the RODC name go ahead: with --yes,
// or when the operator types the name at a terminal. Without a terminal it
// refuses (a script must say --yes).
func confirm(ctx context.Context, what, name string) error {
	c, _ := ctx.Value(confirmKey{}).(confirmation)
	if c.yes {
		return nil
	}
	if !c.tty {
		return usageError{fmt.Errorf("rodc %s changes the directory and cannot be undone: pass --yes to confirm", what)}
	}
	fmt.Fprintf(c.out, "rodc %s %s: type the RODC name (%s) to confirm: ", what, name, name)
	line, _ := bufio.NewReader(c.in).ReadString('\n')
	if !strings.EqualFold(strings.TrimSpace(line), name) {
		return errors.New("not confirmed: nothing changed")
	}
	return nil
}
