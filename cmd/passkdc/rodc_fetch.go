package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/rodc"
	"github.com/passkdc/passkdc/rodc/drsr"
)

// fetchFlags are fetch-key's own flags, on top of the directory flags.
type fetchFlags struct {
	keytab, realm, dc, drsUser       string
	ccache, drsKeytab, krb5Conf, spn string
}

func (ff *fetchFlags) register(cmd *cobra.Command, withDC bool) {
	fl := cmd.Flags()
	fl.StringVar(&ff.keytab, "keytab", "", "keytab to merge the krbtgt_N keys into (created 0600, replaced atomically)")
	fl.StringVar(&ff.realm, "realm", "", "Kerberos realm of the keytab principal (default: from the base DN)")
	if withDC {
		fl.StringVar(&ff.dc, "dc", "", "DC to fetch the key from over DRSUAPI, TCP 135 then its dynamic port (default: the --ldap-url host)")
	}
	fl.StringVar(&ff.ccache, "ccache", "", "authenticate to DRSUAPI with Kerberos from this credential cache instead of NTLM (see README: not accepted by Samba 4.17)")
	fl.StringVar(&ff.drsKeytab, "drs-keytab", "", "authenticate to DRSUAPI with Kerberos from this keytab of --drs-user instead of NTLM")
	fl.StringVar(&ff.krb5Conf, "krb5-conf", "", "krb5.conf for --ccache/--drs-keytab (default $KRB5_CONFIG, then /etc/krb5.conf)")
	fl.StringVar(&ff.spn, "spn", "", "the DC's service principal for Kerberos (default host/<--dc or --ldap-url host>; use the DC's FQDN)")
	fl.StringVar(&ff.drsUser, "drs-user", "", `account for NTLM to DRSUAPI, DOMAIN\user or user@REALM (default: --bind-dn, or the logon name of the --bind-dn entry); its password is --bind-password-file`)
}

// fromFile loads the --config file, if any, and takes keytab and realm from
// it unless given as flags.
func (ff *fetchFlags) fromFile(f *ldapFlags) error {
	if err := f.loadFile(); err != nil {
		return err
	}
	if f.file != nil {
		if ff.keytab == "" {
			ff.keytab = f.file.Keytab
		}
		if ff.realm == "" {
			ff.realm = f.file.Realm
		}
	}
	return nil
}

// accountFor fills in the NTLM account of a request whose --bind-dn is a DN
// (no --drs-user): that entry's logon name, read over the connection.
func accountFor(ctx context.Context, c rodc.Conn, f *ldapFlags, req *drsr.Request) error {
	if req.User != "" || req.CCache != "" {
		return nil
	}
	name, err := rodc.AccountName(ctx, c, f.bindDN)
	if err != nil {
		return fmt.Errorf("--bind-dn %s: reading its logon name for DRSUAPI (or give --drs-user DOMAIN\\user): %w", f.bindDN, err)
	}
	req.User = name
	return nil
}

// drsRequest is the DRSUAPI target and NTLM credentials from the flags.
func (ff *fetchFlags) drsRequest(f *ldapFlags) (drsr.Request, error) {
	server := ff.dc
	if server == "" {
		u, err := url.Parse(f.url)
		if err != nil || u.Hostname() == "" {
			return drsr.Request{}, usageError{fmt.Errorf("--ldap-url %q names no host: give --dc", f.url)}
		}
		server = u.Hostname()
	}
	kerberos := drsr.Request{Server: server, User: ff.drsUser, CCache: ff.ccache, Keytab: ff.drsKeytab, KRB5Conf: ff.krb5Conf, TargetName: ff.spn}
	switch {
	case ff.ccache != "" && ff.drsKeytab != "":
		return drsr.Request{}, usageError{errors.New("--ccache and --drs-keytab conflict: choose one")}
	case ff.ccache != "":
		return kerberos, nil
	case ff.drsKeytab != "" && ff.drsUser == "":
		return drsr.Request{}, usageError{errors.New("--drs-keytab needs --drs-user (the keytab's principal)")}
	case ff.drsKeytab != "":
		return kerberos, nil
	}
	user := ff.drsUser
	if user == "" && (strings.Contains(f.bindDN, "@") || strings.Contains(f.bindDN, `\`)) {
		user = f.bindDN
	} // else a DN: accountFor resolves it once connected

	password, err := ldapsync.ReadPasswordFile(f.passwordFile)
	if err != nil {
		return drsr.Request{}, fmt.Errorf("--bind-password-file: %w", err)
	}
	return drsr.Request{Server: server, User: user, Password: password}, nil
}

func newRODCFetchKey() *cobra.Command {
	var f ldapFlags
	var ff fetchFlags
	cmd := &cobra.Command{
		Use:   "fetch-key",
		Short: "Fetch the krbtgt_N keys from a DC over DRSUAPI (no shell on the DC) into the keytab",
		Long: `Read the RODC over LDAP (krbtgt_N, its objectGUID and msDS-KeyVersionNumber), replicate
that one account from the DC over DRSUAPI (MS-DRSR GetNCChanges, NTLM at packet privacy)
and merge its current and previous AES keys into --keytab, each at its full kvno
(N<<16 | version). The account needs Replicating Directory Changes and Replicating
Directory Changes All on the domain naming context (a domain admin has them). On any
error the keytab is left untouched. Keys are never printed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ff.fromFile(&f); err != nil {
				return err
			}
			if ff.keytab == "" {
				return usageError{errors.New("--keytab is required (or --config with keytab)")}
			}
			if _, err := f.config(); err != nil {
				return err
			}
			req, err := ff.drsRequest(&f)
			if err != nil {
				return err
			}
			var got *rodc.Fetched
			err = withRODCConn(cmd, &f, func(c rodc.Conn) error {
				if err := accountFor(cmd.Context(), c, &f, &req); err != nil {
					return err
				}
				got, err = fetchKey(cmd.Context(), c, &f, &ff, req)
				return err
			})
			if err != nil {
				return explainFetch(err, req, ff.keytab)
			}
			return printFetched(cmd.OutOrStdout(), got, "fetched", req.Server, ff.keytab, f.asJSON)
		},
	}
	f.register(cmd)
	ff.register(cmd, true)
	return cmd
}

func newRODCRotate() *cobra.Command {
	var f ldapFlags
	var ff fetchFlags
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Reset the krbtgt_N key and fetch the new one into the keytab, keeping the previous version",
		Long: `Reset the krbtgt_N key on the DC named by --ldap-url (the DC ignores the password it is
sent and generates a random key under a new key version), fetch the new key back over
DRSUAPI from that same DC (it may not have replicated yet), and merge it into --keytab
next to the previous version, so tickets issued before the rotation stay valid. A running
passkdc serve loads the new key within 2 s of the keytab change, without a restart.
--ldap-url must name one DC (not a name several DCs answer for). Same rights as fetch-key,
plus the right to reset the krbtgt_N password.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := ff.fromFile(&f); err != nil {
				return err
			}
			if ff.keytab == "" {
				return usageError{errors.New("--keytab is required, or --config with keytab (the new key is fetched into it)")}
			}
			if _, err := f.config(); err != nil {
				return err
			}
			req, err := ff.drsRequest(&f)
			if err != nil {
				return err
			}
			if err := confirm(withConfirmation(cmd, f.yes), "rotate", f.name); err != nil {
				return err
			}
			var got *rodc.Fetched
			err = withRODCConn(cmd, &f, func(c rodc.Conn) error {
				if err := accountFor(cmd.Context(), c, &f, &req); err != nil {
					return err
				}
				got, err = rodc.RotateAndFetch(cmd.Context(), c, drsr.Fetch, rodc.FetchKeyOptions{
					Name: f.name, BaseDN: f.baseDN, Realm: ff.realm, DRS: req, Keytab: ff.keytab})
				return err
			})
			if errors.Is(err, rodc.ErrFetchAfterRotate) {
				return fmt.Errorf("%w; the DC honours the previous key still in the keytab: retry with passkdc rodc fetch-key", explainFetch(err, req, ff.keytab))
			}
			if err != nil {
				return explainFetch(err, req, ff.keytab)
			}
			return printFetched(cmd.OutOrStdout(), got, "key rotated: fetched", req.Server, ff.keytab, f.asJSON)
		},
	}
	f.register(cmd)
	ff.register(cmd, false)
	return cmd
}

func fetchKey(ctx context.Context, c rodc.Conn, f *ldapFlags, ff *fetchFlags, req drsr.Request) (*rodc.Fetched, error) {
	return rodc.FetchKey(ctx, c, drsr.Fetch, rodc.FetchKeyOptions{
		Name: f.name, BaseDN: f.baseDN, Realm: ff.realm, DRS: req, Keytab: ff.keytab})
}

// explainFetch says what to fix for each way a fetch fails; the keytab is
// never written on failure.
func explainFetch(err error, req drsr.Request, keytab string) error {
	var hint string
	switch {
	case errors.Is(err, ldapsync.ErrBadCredentials):
		hint = "check --bind-dn and --bind-password-file"
	case errors.Is(err, ldapsync.ErrUnreachable) || errors.Is(err, ldapsync.ErrTLS):
		hint = "check --ldap-url (and --ca-file / --tls-fingerprint)"
	case errors.Is(err, rodc.ErrNotFound):
		hint = "check --name (config: rodc_name): run passkdc rodc show, or rodc provision first"
	case errors.Is(err, drsr.ErrUnreachable):
		hint = "check --dc (default: the --ldap-url host): the DC's endpoint mapper TCP 135 and its dynamic RPC ports must be reachable"
	case errors.Is(err, drsr.ErrAuthentication) && (req.CCache != "" || req.Keytab != ""):
		hint = "Kerberos to DRSUAPI was refused: check --ccache/--drs-keytab, --spn and --krb5-conf; Samba 4.17 refuses it always (README: Deploying against Windows Server DCs), use NTLM there (no --ccache/--drs-keytab)"
	case errors.Is(err, drsr.ErrAuthentication):
		hint = "check --drs-user (default --bind-dn) and --bind-password-file"
	case errors.Is(err, drsr.ErrNoSuchAccount):
		hint = "the DC named by --dc does not have the krbtgt account yet: wait for replication or fetch from the DC that provisioned it"
	case errors.Is(err, drsr.ErrAccessDenied):
		hint = fmt.Sprintf("grant %s Replicating Directory Changes and Replicating Directory Changes All on the domain naming context, or use a domain admin (README: Deploying against Windows Server DCs)", req.User)
	default:
		return fmt.Errorf("%w (keytab %s unchanged)", err, keytab)
	}
	return fmt.Errorf("%w; %s (keytab %s unchanged)", err, hint, keytab)
}

// fetchedOut is what fetch-key prints with --json: no key material.
type fetchedOut struct {
	Principal  string       `json:"principal"`
	RODCNumber uint16       `json:"rodc_number"`
	KeyVersion uint32       `json:"key_version"`
	DC         string       `json:"dc"`
	Keytab     string       `json:"keytab"`
	Added      int          `json:"added"`
	Keys       []fetchedKey `json:"keys"`
}

type fetchedKey struct {
	KVNO     uint32 `json:"kvno"`
	Version  uint16 `json:"version"`
	Etype    string `json:"etype"`
	Previous bool   `json:"previous"`
}

func printFetched(w io.Writer, got *rodc.Fetched, verb, dc, keytab string, asJSON bool) error {
	out := fetchedOut{Principal: got.Principal.String(), RODCNumber: got.RODC.Number, KeyVersion: got.RODC.KeyVersion,
		DC: dc, Keytab: keytab, Added: got.Added}
	for _, k := range got.Keys {
		_, v := keytabs.SplitKVNO(k.KVNO)
		out.Keys = append(out.Keys, fetchedKey{KVNO: k.KVNO, Version: v, Etype: etypeName(k.EType), Previous: k.Previous})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "%s %s (RODC number %d, key version %d) from %s\n", verb, out.Principal, out.RODCNumber, out.KeyVersion, dc)
	for _, k := range out.Keys {
		which := "current"
		if k.Previous {
			which = "previous"
		}
		fmt.Fprintf(w, "  kvno %d (version %d, %s) %s\n", k.KVNO, k.Version, which, k.Etype)
	}
	_, err := fmt.Fprintf(w, "%d new entries merged into %s\n", out.Added, keytab)
	return err
}
