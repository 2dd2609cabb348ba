package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/dirconfig"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/rodc"
)

// ldapFlags are the directory connection flags shared by the rodc commands
// (DESIGN §4); never a password on the command line. With --config, the
// file's ldap section and rodc_name (and their PASSKDC_* environment
// overrides) supply every flag not given.
type ldapFlags struct {
	url, bindDN, passwordFile, caFile, name, baseDN string
	fingerprint, configPath                         string
	insecureSkipVerify, asJSON, yes                 bool
	timeout                                         time.Duration

	cmd  *cobra.Command
	file *config.Config // the --config file, once loaded
}

func (f *ldapFlags) register(cmd *cobra.Command) {
	f.cmd = cmd
	fl := cmd.Flags()
	fl.StringVar(&f.configPath, "config", "", "configuration file: its ldap section and rodc_name supply the flags not given (default $"+configEnv+" when --ldap-url is not given)")
	fl.StringVar(&f.url, "ldap-url", "", "directory URL: ldaps://dc1.corp.example.test or ldap://… (StartTLS)")
	fl.StringVar(&f.bindDN, "bind-dn", "", "domain admin to bind as (DN or user@REALM)")
	fl.StringVar(&f.passwordFile, "bind-password-file", "", "file holding the bind password")
	fl.StringVar(&f.caFile, "ca-file", "", "PEM CA bundle that signed the DC's LDAPS certificate")
	fl.StringVar(&f.fingerprint, "tls-fingerprint", "", "SHA-256 of the DC's certificate or its CA (hex, colons allowed): verified trust for a certificate without subjectAltName")
	fl.BoolVar(&f.insecureSkipVerify, "insecure-skip-verify", false, "do not verify the DC's certificate (test domains only)")
	fl.StringVar(&f.name, "name", "PASSKDC", "computer name of passkdc's RODC object")
	fl.StringVar(&f.baseDN, "base-dn", "", "domain naming context (default: the DC's defaultNamingContext)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "LDAP timeout")
	fl.BoolVar(&f.asJSON, "json", false, "print JSON")
	if cmd.Name() == "rotate" || cmd.Name() == "remove" {
		fl.BoolVar(&f.yes, "yes", false, "do it without asking (otherwise a terminal prompt asks for the RODC name)")
	}
}

// loadFile applies the --config file (or $PASSKDC_CONFIG when no --ldap-url
// is given) to every flag the command line did not set. Idempotent.
func (f *ldapFlags) loadFile() error {
	path := f.configPath
	if path == "" && f.url == "" {
		path = os.Getenv(configEnv)
	}
	if path == "" || f.file != nil {
		return nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	f.file = cfg
	l := dirconfig.DialConfig(cfg, nil)
	fromFile := func(flag string, dst *string, v string) {
		if !f.cmd.Flags().Changed(flag) {
			*dst = v
		}
	}
	fromFile("ldap-url", &f.url, l.URL)
	fromFile("bind-dn", &f.bindDN, l.BindDN)
	fromFile("bind-password-file", &f.passwordFile, l.BindPasswordFile)
	fromFile("ca-file", &f.caFile, l.CAFile)
	fromFile("tls-fingerprint", &f.fingerprint, l.TLSFingerprint)
	fromFile("base-dn", &f.baseDN, cfg.LDAP.BaseDN)
	fromFile("name", &f.name, cfg.RODCName)
	if !f.cmd.Flags().Changed("insecure-skip-verify") {
		f.insecureSkipVerify = l.InsecureSkipVerify
	}
	if !f.cmd.Flags().Changed("timeout") && l.Timeout != 0 {
		f.timeout = l.Timeout
	}
	return nil
}

func (f *ldapFlags) config() (ldapsync.LDAPConfig, error) {
	if err := f.loadFile(); err != nil {
		return ldapsync.LDAPConfig{}, err
	}
	switch {
	case f.url == "":
		return ldapsync.LDAPConfig{}, usageError{errors.New("--ldap-url is required (or --config with ldap.url)")}
	case f.bindDN == "" || f.passwordFile == "":
		return ldapsync.LDAPConfig{}, usageError{errors.New("--bind-dn and --bind-password-file are required")}
	case f.fingerprint != "" && f.insecureSkipVerify:
		return ldapsync.LDAPConfig{}, usageError{errors.New("--tls-fingerprint and --insecure-skip-verify conflict: choose one")}
	}
	if f.fingerprint != "" {
		if _, err := ldapsync.ParseFingerprint(f.fingerprint); err != nil {
			return ldapsync.LDAPConfig{}, usageError{fmt.Errorf("--%w", err)}
		}
	}
	allowInsecure := false
	if f.file != nil && f.url == f.file.LDAP.URL {
		allowInsecure = dirconfig.DialConfig(f.file, nil).AllowInsecure
	}
	return ldapsync.LDAPConfig{URL: f.url, BindDN: f.bindDN, BindPasswordFile: f.passwordFile, CAFile: f.caFile,
		InsecureSkipVerify: f.insecureSkipVerify, TLSFingerprint: f.fingerprint, AllowInsecure: allowInsecure, Timeout: f.timeout}, nil
}

func newRODCCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rodc",
		Short: "Provision passkdc in Active Directory as a read-only DC with its own krbtgt_N",
		Long: `passkdc issues partial TGTs under the key of a read-only DC's krbtgt_N account.
"provision" creates that RODC computer object and krbtgt account over LDAPS, with the
password replication policy that decides who may get tickets. Then fetch its key from
a DC over DRSUAPI into passkdc's keytab (no shell on the DC, Windows or Samba):

  passkdc rodc fetch-key --keytab /var/lib/passkdc/krbtgt.keytab ...

"rotate" resets the key and fetches the new one into the keytab in one step.`,
	}
	cmd.AddCommand(newRODCProvision(), newRODCShow(), newRODCRotate(), newRODCRemove(), newRODCFetchKey(), newRODCHTTPSPN())
	return cmd
}

func newRODCProvision() *cobra.Command {
	var f ldapFlags
	var allow, deny []string
	var description string
	cmd := &cobra.Command{
		Use:   "provision",
		Short: "Create the RODC object and its krbtgt_N account (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			conn, err := ldapsync.Dial(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer conn.Close()
			r, err := rodc.Provision(cmd.Context(), conn, rodc.RODCOptions{
				Name: f.name, BaseDN: f.baseDN, AllowGroups: allow, DenyGroups: deny, Description: description})
			if err != nil {
				return err
			}
			verb := "already provisioned, unchanged"
			if r.Created {
				verb = "provisioned"
			}
			return printRODC(cmd.OutOrStdout(), r, f.asJSON, verb)
		},
	}
	f.register(cmd)
	cmd.Flags().StringSliceVar(&allow, "allow-group", nil, "reveal-on-demand group (SID or DN; repeatable; default Allowed RODC Password Replication Group)")
	cmd.Flags().StringSliceVar(&deny, "deny-group", nil, "extra never-reveal group (SID or DN; repeatable; the built-in denials always apply)")
	cmd.Flags().StringVar(&description, "description", "passkdc: partial TGTs for passkey sign-in", "description of the computer object")
	return cmd
}

func newRODCShow() *cobra.Command {
	return rodcCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the RODC object, its number, key version and replication policy",
	}, rodc.Show, func(*rodc.RODC) string { return "" })
}

// confirmed wraps a destructive RODC action so that it runs only with --yes,
// or after the operator types the RODC's name at a terminal prompt.
func confirmed(action func(context.Context, rodc.Conn, string, string) (*rodc.RODC, error), what string) func(context.Context, rodc.Conn, string, string) (*rodc.RODC, error) {
	return func(ctx context.Context, c rodc.Conn, name, base string) (*rodc.RODC, error) {
		if err := confirm(ctx, what, name); err != nil {
			return nil, err
		}
		return action(ctx, c, name, base)
	}
}

// rodcCommand completes cmd with the directory flags and a run that applies
// action to the named RODC and prints the result, headed by verb(result).
func rodcCommand(cmd *cobra.Command, action func(context.Context, rodc.Conn, string, string) (*rodc.RODC, error),
	verb func(*rodc.RODC) string) *cobra.Command {
	var f ldapFlags
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return withRODCConn(cmd, &f, func(c rodc.Conn) error {
			r, err := action(withConfirmation(cmd, f.yes), c, f.name, f.baseDN)
			if err != nil {
				return err
			}
			return printRODC(cmd.OutOrStdout(), r, f.asJSON, verb(r))
		})
	}
	f.register(cmd)
	return cmd
}

func newRODCRemove() *cobra.Command {
	var f ldapFlags
	cmd := &cobra.Command{
		Use:   "remove",
		Short: "Delete the RODC object, its krbtgt_N account and its HTTP service accounts (tickets under their keys stop working)",
		Long: `Deletes the HTTP service accounts that rodc http-spn created for this RODC (their
description names it; PASSKDC-WEB$ by default), then the RODC's krbtgt_N account and its
computer object, including the leftovers of an interrupted provision. Running it again when
nothing is left changes nothing. The keytab files (keytab, kerberos.keytab) are left alone:
remove the kerberos section from the configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.loadFile(); err != nil {
				return err
			}
			if err := confirm(withConfirmation(cmd, f.yes), "remove", f.name); err != nil {
				return err
			}
			return withRODCConn(cmd, &f, func(c rodc.Conn) error {
				r, err := rodc.Remove(cmd.Context(), c, f.name, f.baseDN)
				if err != nil && !errors.Is(err, rodc.ErrNotFound) {
					return err
				}
				if r == nil {
					r = &rodc.Removal{}
				}
				return printRemoval(cmd.OutOrStdout(), f.name, r, f.asJSON)
			})
		},
	}
	f.register(cmd)
	return cmd
}

// rodcRemoved is `rodc remove --json`.
type rodcRemoved struct {
	Kind         string           `json:"kind"`
	Name         string           `json:"name"`
	Removed      bool             `json:"removed"`
	HTTPAccounts []httpAccountOut `json:"http_accounts"`
}

type httpAccountOut struct {
	Account string   `json:"account"`
	DN      string   `json:"dn"`
	SPNs    []string `json:"spns"`
}

func printRemoval(w io.Writer, name string, r *rodc.Removal, asJSON bool) error {
	if asJSON {
		out := rodcRemoved{Kind: "rodc", Name: name, Removed: r.RODC, HTTPAccounts: []httpAccountOut{}}
		for _, h := range r.HTTPServices {
			out.HTTPAccounts = append(out.HTTPAccounts, httpAccountOut{Account: h.Account, DN: h.DN, SPNs: nonNil(h.SPNs)})
		}
		return writeIndentedJSON(w, out)
	}
	for _, h := range r.HTTPServices {
		fmt.Fprintf(w, "HTTP service account %s (%s, SPN %s) removed\n", h.Account, h.DN, strings.Join(h.SPNs, ", "))
	}
	switch {
	case r.RODC:
		fmt.Fprintf(w, "RODC %s removed\n", name)
	case len(r.HTTPServices) == 0:
		fmt.Fprintf(w, "RODC %s: nothing to remove\n", name)
	default:
		fmt.Fprintf(w, "RODC %s: already removed\n", name)
	}
	return nil
}

func withRODCConn(cmd *cobra.Command, f *ldapFlags, fn func(rodc.Conn) error) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	conn, err := ldapsync.Dial(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(conn)
}

// printRODC prints the RODC; the krbtgt account name, which scripts need for
// the key export, is alone on the last line.
func printRODC(w io.Writer, r *rodc.RODC, asJSON bool, status string) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rodcJSON(r))
	}
	if status != "" {
		fmt.Fprintf(w, "RODC %s: %s\n", r.Name, status)
	}
	fmt.Fprintf(w, "computer:     %s\nkrbtgt:       %s\nrodc number:  %d\nkey version:  %d\n",
		r.ComputerDN, r.KrbtgtDN, r.Number, r.KeyVersion)
	for _, s := range r.Allow {
		fmt.Fprintf(w, "reveal:       %s\n", groupLabel(r, s))
	}
	for _, s := range r.Deny {
		fmt.Fprintf(w, "never reveal: %s\n", groupLabel(r, s))
	}
	_, err := fmt.Fprintln(w, r.KrbtgtName)
	return err
}

// rodcOut is an RODC as `--json` prints it (documented snake_case fields).
type rodcOut struct {
	Name        string     `json:"name"`
	BaseDN      string     `json:"base_dn"`
	ComputerDN  string     `json:"computer_dn"`
	KrbtgtDN    string     `json:"krbtgt_dn"`
	KrbtgtName  string     `json:"krbtgt_name"`
	RODCNumber  uint16     `json:"rodc_number"`
	KeyVersion  uint32     `json:"key_version"`
	KeytabKVNO  uint32     `json:"keytab_kvno"`
	Reveal      []groupOut `json:"reveal"`
	NeverReveal []groupOut `json:"never_reveal"`
	Created     bool       `json:"created"`
	Problems    []string   `json:"problems"`
	Warnings    []string   `json:"warnings"`
}

type groupOut struct {
	SID  string `json:"sid"`
	Name string `json:"name,omitempty"`
}

func rodcJSON(r *rodc.RODC) rodcOut {
	groups := func(sids []string) []groupOut {
		out := make([]groupOut, 0, len(sids))
		for _, s := range sids {
			name := r.GroupNames[s]
			if name == "" {
				name = rodc.WellKnownGroupName(s)
			}
			out = append(out, groupOut{SID: s, Name: name})
		}
		return out
	}
	return rodcOut{Name: r.Name, BaseDN: r.BaseDN, ComputerDN: r.ComputerDN, KrbtgtDN: r.KrbtgtDN, KrbtgtName: r.KrbtgtName,
		RODCNumber: r.Number, KeyVersion: r.KeyVersion, KeytabKVNO: r.KeytabKVNO(), Reveal: groups(r.Allow),
		NeverReveal: groups(r.Deny), Created: r.Created, Problems: nonNil(r.Problems), Warnings: nonNil(r.Warnings)}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func groupLabel(r *rodc.RODC, sid string) string {
	name := r.GroupNames[sid]
	if name == "" {
		name = rodc.WellKnownGroupName(sid)
	}
	if name == "" {
		return sid
	}
	return sid + " (" + name + ")"
}
