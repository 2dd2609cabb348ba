package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/admin"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/store"
)

func newCredCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "cred", Short: "Registered passkeys"}
	cmd.AddCommand(newCredListCommand(), newCredRevokeCommand())
	return cmd
}

func newCredListCommand() *cobra.Command {
	return queryCommand[[]admin.CredentialRow]{
		use: "list [USER]", short: "List passkeys (of USER, or all)", args: cobra.MaximumNArgs(1),
		query: func(ctx context.Context, cfg *config.Config, st store.Store, args []string) ([]admin.CredentialRow, error) {
			return admin.ListCredentials(ctx, st, cfg.Realm, optionalArg(args))
		},
		print: func(w io.Writer, rows []admin.CredentialRow) error {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPRINCIPAL\tNAME\tAAGUID\tSYNCED\tCREATED\tLAST USED\tSTATE")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\t%s\t%s\n", r.ID, r.Principal, orDash(r.Name), r.AAGUID, r.Synced,
					r.Created.Format(time.RFC3339), timeOrDash(r.LastUsed), r.State)
			}
			return tw.Flush()
		},
	}.command(nil)
}

func newCredRevokeCommand() *cobra.Command {
	return revokeCommand("revoke ID", "Revoke a passkey: it can no longer sign in", "passkey", admin.RevokeCredential)
}
