package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "passkdc",
		Short:         "Kerberos ticket bridge for passkey (FIDO2/WebAuthn) users",
		Long:          "passkdc verifies passkey sign-ins and issues partial TGTs under a read-only-DC krbtgt key,\nwhich any writable Active Directory DC trades for real Kerberos tickets.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newVersionCommand(), newServeCommand(), newCheckCommand(), newGroupCommand(), newSyncCommand(), newPrincipalCommand(),
		newTAPCommand(), newCredCommand(), newRODCCommand(), newKeytabCommand())
	document(root)
	return root
}

func newVersionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the passkdc version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), versionOut{Version: version.String(), GoVersion: runtime.Version()})
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (fields: version, go_version)")
	return cmd
}

// versionOut is what "version --json" prints.
type versionOut struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
}
