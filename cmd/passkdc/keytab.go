package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/keytabs"
)

func newKeytabCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keytab",
		Short: "Inspect and import keytabs (RODC krbtgt keys)",
	}
	cmd.AddCommand(newKeytabListCommand(), newKeytabImportCommand())
	return cmd
}

// keytabRow is one entry as printed by "keytab list".
type keytabRow struct {
	Principal  string    `json:"principal"`
	KVNO       uint32    `json:"kvno"`
	RODCNumber uint16    `json:"rodc_number"`
	Version    uint16    `json:"version"`
	Etype      string    `json:"etype"`
	Timestamp  time.Time `json:"timestamp"`
}

func newKeytabListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list FILE",
		Short: "List keytab entries: principal, kvno (RODC number + version), etype, timestamp",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kt, err := keytabs.Load(args[0])
			if err != nil {
				return err
			}
			rows := make([]keytabRow, 0, len(kt.Entries))
			for _, e := range kt.Entries {
				n, v := keytabs.SplitKVNO(e.KVNO)
				rows = append(rows, keytabRow{e.Principal.String(), e.KVNO, n, v, etypeName(e.Key.KeyType), e.Timestamp.UTC()})
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PRINCIPAL\tKVNO\tRODC\tVERSION\tETYPE\tTIMESTAMP")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", r.Principal, r.KVNO, r.RODCNumber, r.Version, r.Etype, r.Timestamp.Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newKeytabImportCommand() *cobra.Command {
	var dst, realm string
	var strict, asJSON bool
	cmd := &cobra.Command{
		Use:   "import SRC --to DST",
		Short: "Merge the entries of keytab SRC into DST (created 0600 if missing)",
		Long: "Merge the entries of keytab SRC into DST. Entries already present are kept; an entry with\n" +
			"the same principal, kvno and etype but a different key is refused. DST is written atomically, 0600.\n" +
			"An entry that is not an RODC krbtgt key (krbtgt_N whose kvno carries the RODC number N, in\n" +
			"--realm when given) is named in a warning; --strict refuses the import instead. A running\n" +
			"passkdc serve loads new keys within 2 s of the change, or at SIGHUP (systemctl reload passkdc).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dst == "" {
				return usageError{errors.New("--to DST is required")}
			}
			src, err := keytabs.Load(args[0])
			if err != nil {
				return err
			}
			problems := notRODCKeys(src, realm)
			if len(problems) > 0 {
				if strict {
					return fmt.Errorf("%s holds keys passkdc cannot issue with (nothing imported):\n  %s", args[0], strings.Join(problems, "\n  "))
				}
				for _, p := range problems {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", p)
				}
			}
			into, err := keytabs.Load(dst)
			if errors.Is(err, fs.ErrNotExist) {
				into, err = &keytabs.Keytab{}, nil
			}
			if err != nil {
				return err
			}
			added, err := into.Merge(src)
			if err != nil {
				return fmt.Errorf("merge %s into %s: %w", args[0], dst, err)
			}
			if err := into.WriteFile(dst); err != nil {
				return err
			}
			if asJSON {
				return writeIndentedJSON(cmd.OutOrStdout(), keytabImported{Source: args[0], Destination: dst, Added: added,
					Entries: len(into.Entries), Warnings: nonNil(problems)})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d new entries into %s (%d in all)\n", added, dst, len(into.Entries))
			if added > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "a running passkdc serve loads them within 2 s of the file change (or at once on SIGHUP: systemctl reload passkdc)")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dst, "to", "", "destination keytab (merged, written 0600)")
	cmd.Flags().StringVar(&realm, "realm", "", "warn about entries of any other realm")
	cmd.Flags().BoolVar(&strict, "strict", false, "refuse the import when an entry is not an RODC krbtgt key")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (fields: source, destination, added, entries, warnings)")
	return cmd
}

// keytabImported is what "keytab import --json" prints (never a key).
type keytabImported struct {
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Added       int      `json:"added"`
	Entries     int      `json:"entries"`
	Warnings    []string `json:"warnings"`
}

// notRODCKeys names the entries of kt that passkdc cannot issue partial TGTs
// with: not a single-component krbtgt_N principal, a kvno whose RODC number is
// not N, or (when realm is set) another realm.
func notRODCKeys(kt *keytabs.Keytab, realm string) []string {
	var problems []string
	for _, e := range kt.Entries {
		name := e.Principal.String()
		n, _ := keytabs.SplitKVNO(e.KVNO)
		switch {
		case len(e.Principal.Components) != 1 || !strings.HasPrefix(e.Principal.Components[0], "krbtgt_"):
			problems = append(problems, fmt.Sprintf("%s is not an RODC krbtgt_N account (an ordinary account's or a writable DC's key?)", name))
		case e.Principal.Components[0] != fmt.Sprintf("krbtgt_%d", n):
			problems = append(problems, fmt.Sprintf("%s has kvno %d, whose RODC number is %d, not the one in its name (another RODC's key?)", name, e.KVNO, n))
		case realm != "" && !strings.EqualFold(e.Principal.Realm, realm):
			problems = append(problems, fmt.Sprintf("%s is not in realm %s", name, realm))
		}
	}
	return problems
}

// etypeName gives MIT's name for the encryption types AD and passkdc use.
func etypeName(id int32) string {
	switch id {
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return "aes128-cts-hmac-sha1-96"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return "aes256-cts-hmac-sha384-192"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return "aes128-cts-hmac-sha256-128"
	case etypeID.RC4_HMAC:
		return "arcfour-hmac"
	case etypeID.DES_CBC_MD5:
		return "des-cbc-md5"
	case etypeID.DES_CBC_CRC:
		return "des-cbc-crc"
	}
	return fmt.Sprintf("etype-%d", id)
}
