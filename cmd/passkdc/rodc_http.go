package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/rodc"
)

// newRODCHTTPSPN is `passkdc rodc http-spn`: the HTTP service key for
// Kerberos (SPNEGO) enrolment.
func newRODCHTTPSPN() *cobra.Command {
	var f ldapFlags
	var account, host, keytab string
	cmd := &cobra.Command{
		Use:   "http-spn",
		Short: "Give passkdc an HTTP/<host> service principal and its key (Kerberos enrolment)",
		Long: `Creates (or re-keys) a dedicated computer account, PASSKDC-WEB$ by default, with the SPN
HTTP/<host>, AES-only encryption types and a random password set over LDAPS, and merges its
AES keys into --keytab (0600; one previous key version is kept). Point kerberos.keytab and
kerberos.spn of the configuration at the result. Running it again rotates the key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRODCConn(cmd, &f, func(c rodc.Conn) error {
				if keytab == "" && f.file != nil {
					keytab = f.file.Kerberos.Keytab
				}
				h, err := rodc.ProvisionHTTPService(cmd.Context(), c, rodc.HTTPServiceOptions{
					Account: account, RODCName: f.name, BaseDN: f.baseDN, Host: host, Keytab: keytab})
				if err != nil {
					return err
				}
				return printHTTPService(cmd, h, keytab, f.asJSON)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&account, "account", rodc.DefaultHTTPAccount, "computer name of the service account (not the RODC's)")
	cmd.Flags().StringVar(&host, "host", "", "passkdc's DNS name as browsers reach it: the SPN is HTTP/<host> (required)")
	cmd.Flags().StringVar(&keytab, "keytab", "", "keytab for the HTTP keys (default: the --config file's kerberos.keytab)")
	return cmd
}

func printHTTPService(cmd *cobra.Command, h *rodc.HTTPService, keytab string, asJSON bool) error {
	out := cmd.OutOrStdout()
	if asJSON {
		return json.NewEncoder(out).Encode(map[string]any{"account": h.Account, "dn": h.DN, "spn": h.SPN,
			"principal": h.Principal.String(), "kvno": h.KVNO, "created": h.Created, "keytab": keytab})
	}
	verb := "re-keyed"
	if h.Created {
		verb = "created"
	}
	_, err := fmt.Fprintf(out, "%s %s (%s)\nspn: %s\nkvno: %d\nkeytab: %s (principal %s)\n",
		verb, h.Account, h.DN, h.SPN, h.KVNO, keytab, h.Principal)
	return err
}
