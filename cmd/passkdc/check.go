package main

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/check"
)

func newCheckCommand() *cobra.Command {
	var cfgPath, rodcName, kdc string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check a deployment before users find its problems: each problem with its fix",
		Long: `Check the configuration and everything it points at, and print each problem with its fix:
the configuration itself; the TLS certificate (valid, covering rp_id and every origin's
host); the origins' ports against listen; the store (writable by this user, opens,
migrated, answers); the
keytab (present, 0600, krbtgt_N keys of this realm); kerberos.keytab when set (present,
0600, an AES key of kerberos.spn; at the DC: one account holds the SPN, gets AES tickets,
at the keytab's key version); the FIDO metadata blob (present,
verified and not past its nextUpdate when a profile has attestation: enforced); the
directory (reachable, certificate trusted, bind accepted, ldap.base_dn exists); the RODC object (present,
its number and key version equal to the keytab's, every never-reveal value a group with
a SID, at least one reveal group); the DC's KDC (answers an AS-REQ) and the clock
difference to it. It changes nothing. passkdc serve runs the same checks at start.

Exit 0 when every check passes, 1 otherwise. --json prints {"results": [{"name", "ok",
"detail", "problem", "fix", "fatal"}]}; fatal problems also stop passkdc serve.`,
		Example: "  passkdc check --config /etc/passkdc/passkdc.yaml\n" +
			"  passkdc check --config /etc/passkdc/passkdc.yaml --json --kdc dc1.corp.example.test:88",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			cfg, err := loadConfigFile(cfgPath)
			if err != nil {
				rep := check.Report{Results: []check.Result{{Name: "config", Problem: err.Error(), Fatal: true,
					Fix: "correct the keys named above in the configuration file"}}}
				return printReport(out, rep, asJSON)
			}
			log := logrus.New()
			log.SetOutput(io.Discard)
			if !cmd.Flags().Changed("rodc-name") {
				rodcName = cfg.RODCName
			}
			rep := check.Run(cmd.Context(), check.Options{Config: cfg, RODCName: rodcName, KDC: kdc, Log: log})
			rep.Results = append([]check.Result{{Name: "config", OK: true, Detail: "valid"}}, rep.Results...)
			return printReport(out, rep, asJSON)
		},
	}
	addConfigFlag(cmd, &cfgPath)
	cmd.Flags().StringVar(&rodcName, "rodc-name", "PASSKDC", "computer name of passkdc's RODC object (overrides rodc_name of the config)")
	cmd.Flags().StringVar(&kdc, "kdc", "", "the DC's KDC as host:port (default: kdc_proxy.kdcs' first when enabled, else ldap.url's host, port 88)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// checkFailed makes `passkdc check` exit 1 after it printed its report.
type checkFailed struct{ n int }

func (e checkFailed) Error() string { return fmt.Sprintf("%d check(s) failed", e.n) }

func printReport(w io.Writer, rep check.Report, asJSON bool) error {
	if asJSON {
		if err := writeIndentedJSON(w, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprint(w, rep.String())
	}
	failed := 0
	for _, r := range rep.Results {
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		return checkFailed{failed}
	}
	return nil
}
