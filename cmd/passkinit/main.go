// Stock Samba DCs generate LDAPS certificates with random serial numbers, about
// half of them negative, which Go refuses to parse unless this setting is on.

//go:debug x509negativeserial=1

// Command passkinit signs in to passkdc with a passkey and writes a Kerberos
// credential cache that MIT tools (klist, kvno, smbclient -k) use unchanged.
//
// Flags and wiring only: the logic is in internal/client.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/passkdc/passkdc/internal/client"
	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/internal/version"
	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/kdc/tgs"
)

// Exit codes scripts can rely on.
const (
	exitOK          = 0
	exitError       = 1 // anything else (local files, malformed answers)
	exitUsage       = 2 // bad flags or arguments
	exitRefused     = 3 // passkdc refused: bad pass, unknown credential, policy, ...
	exitUnreachable = 4 // passkdc could not be reached
	exitKDC         = 5 // the DC refused or could not be reached for the exchange
	exitUntrusted   = 6 // passkdc answered with a certificate this machine does not trust
)

type options struct {
	server, caFile, authenticator, tap, ccache, krb5conf string
	kdcProxy, realm                                      string
	register, noExchange, browser, open, printKrb5       bool
	verbose                                              bool
	timeout, connectTimeout                              time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	code := exitOK
	cmd := &cobra.Command{
		Use:   "passkinit [flags] [PRINCIPAL]",
		Short: "Sign in with a passkey and get Kerberos tickets from passkdc",
		Long: `passkinit signs in to passkdc with a passkey, receives a partial TGT sealed to this
client, trades it at the DC for a full TGT (unless --no-exchange), and writes a
credential cache (-c, else $KRB5CCNAME, else /tmp/krb5cc_UID).

Authenticators:
  soft:PATH   a software passkey kept in the 0600 file PATH, created by --register.
              It is for automation and tests: the file is the only factor it has.
  --browser   the passkey in your browser (synced or platform passkeys): passkinit
              listens on 127.0.0.1, prints the sign-in address (and opens it with
              --open, using $BROWSER or xdg-open) and waits for the browser to come
              back with a one-time code it redeems with its own binding key.

The exchange goes to the realm's DCs named in krb5.conf over TCP, each given
--kdc-connect-timeout to accept the connection; when none does (off the
corporate network), it goes through the KDC proxy (MS-KKDCP) passkdc advertised
at sign-in. A DC's answer, a refusal included, is final. --kdc-proxy (or a
proxy URL as the realm's first kdc in krb5.conf) sends it through that proxy
only. -v says on stderr which way it went.

Exit codes: 0 ok, 1 error, 2 usage, 3 refused by passkdc (its JSON error code and
message are printed; this includes "directory" when passkdc cannot confirm the
account and fails closed), 4 passkdc unreachable, 5 the DC refused the exchange or
could not be reached, 6 passkdc's TLS certificate is not trusted (give its CA with
--ca-file).`,
		Version:       version.String(),
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			principal := ""
			if len(args) == 1 {
				principal = args[0]
			}
			var err error
			if o.printKrb5 {
				code, err = printKrb5Conf(o, principal, stdout)
				return err
			}
			code, err = signIn(cmd.Context(), o, principal, stdout, stderr)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "server", os.Getenv("PASSKDC_SERVER"), "passkdc URL, e.g. https://passkdc.corp.example.test:8443 ($PASSKDC_SERVER)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM file of the CA that signed passkdc's certificate")
	f.StringVar(&o.authenticator, "authenticator", "", "authenticator: soft:PATH")
	f.BoolVar(&o.browser, "browser", false, "sign in with a passkey in a browser on this computer")
	f.BoolVar(&o.open, "open", false, "with --browser: open the sign-in address in the browser ($BROWSER, else xdg-open)")
	f.BoolVar(&o.register, "register", false, "enrol a new passkey first, with --tap")
	f.StringVar(&o.tap, "tap", "", "temporary access pass for --register")
	f.BoolVar(&o.noExchange, "no-exchange", false, "keep the partial TGT; do not trade it at the DC")
	f.StringVarP(&o.ccache, "cache", "c", "", "credential cache to write (FILE:PATH or PATH)")
	f.StringVar(&o.krb5conf, "krb5-config", "", "krb5.conf naming the realm's KDCs (default $KRB5_CONFIG, else /etc/krb5.conf)")
	f.StringVar(&o.kdcProxy, "kdc-proxy", os.Getenv("PASSKDC_KDC_PROXY"), "trade the partial TGT through this KDC proxy (MS-KKDCP), e.g. https://passkdc.corp.example.test:8443/KdcProxy ($PASSKDC_KDC_PROXY); also used when krb5.conf names one as the realm's kdc")
	f.BoolVar(&o.printKrb5, "print-krb5-conf", false, "print a krb5.conf snippet sending the realm's Kerberos traffic through --kdc-proxy (with --ca-file as http_anchors) and exit")
	f.StringVar(&o.realm, "realm", "", "realm for --print-krb5-conf (default: the realm of PRINCIPAL)")
	f.DurationVar(&o.connectTimeout, "kdc-connect-timeout", client.DefaultConnectTimeout, "wait this long for a TCP connection to each DC before trying the next, then the KDC proxy passkdc advertised")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "say on stderr which way the partial TGT was exchanged (directly at a DC or through a KDC proxy)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up after this long")
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { code = exitUsage; return err })
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "passkinit:", err)
		if code == exitOK {
			code = exitUsage // cobra argument errors
		}
		return code
	}
	return code
}

func signIn(ctx context.Context, o options, principal string, out, errOut io.Writer) (int, error) {
	if o.server == "" {
		return exitUsage, errors.New("--server is required")
	}
	if code, err := checkAuthenticatorFlags(o); err != nil {
		return code, err
	}
	ccPath, err := ccache.ResolveName(o.ccache)
	if err != nil {
		return exitUsage, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c, err := client.New(o.server, o.caFile)
	if err != nil {
		return exitUsage, err
	}
	var si *client.SignedIn
	if o.browser {
		si, err = browserSignIn(ctx, c, o, principal, errOut)
	} else {
		si, err = softSignIn(ctx, c, o, principal, out)
	}
	if err != nil {
		return classify(err), err
	}
	cc, err := client.PartialCCache(si)
	if err != nil {
		return exitError, err
	}
	what := "partial TGT"
	if !o.noExchange {
		route, err := exchangeRoute(o, si)
		if err != nil {
			return exitKDC, err
		}
		var path client.Path
		cc, path, err = c.ExchangeRoute(ctx, si, route)
		if err != nil {
			return exitKDC, err
		}
		if o.verbose {
			fmt.Fprintln(errOut, "passkinit:", path)
		}
		what = "TGT"
	}
	if err := cc.WriteFile(ccPath); err != nil {
		return exitError, err
	}
	fmt.Fprintf(out, "%s for %s written to %s\n", what, si.Principal, ccPath)
	return exitOK, nil
}

func checkAuthenticatorFlags(o options) (int, error) {
	switch {
	case o.browser && o.authenticator != "":
		return exitUsage, errors.New("--browser and --authenticator exclude each other")
	case o.browser && o.register:
		return exitUsage, errors.New("--register is for soft: authenticators; add browser passkeys on passkdc's Security info page")
	case o.open && !o.browser:
		return exitUsage, errors.New("--open needs --browser")
	case o.browser:
		return exitOK, nil
	}
	if path, ok := strings.CutPrefix(o.authenticator, "soft:"); !ok || path == "" {
		return exitUsage, errors.New("--authenticator soft:PATH or --browser is required")
	}
	if o.register && o.tap == "" {
		return exitUsage, errors.New("--register needs --tap CODE")
	}
	return exitOK, nil
}

// softSignIn signs in with the software passkey, registering it first with --register.
func softSignIn(ctx context.Context, c *client.Client, o options, principal string, out io.Writer) (*client.SignedIn, error) {
	auth, err := softkey.Open(strings.TrimPrefix(o.authenticator, "soft:"))
	if err != nil {
		return nil, err
	}
	if o.register {
		reg, err := c.Register(ctx, o.tap, principal, auth)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "registered passkey %s for %s\n", reg.CredentialID, reg.Principal)
	}
	return c.Login(ctx, principal, auth)
}

// browserSignIn signs in through the browser; the prompt and the address go
// to errOut. A PRINCIPAL argument must match whoever signed in.
func browserSignIn(ctx context.Context, c *client.Client, o options, principal string, errOut io.Writer) (*client.SignedIn, error) {
	si, err := c.BrowserLogin(ctx, client.ShowURL(errOut, o.open), o.timeout)
	if err != nil {
		return nil, err
	}
	if principal != "" && !krbname.Same(principal, si.Principal) {
		return nil, fmt.Errorf("signed in as %s in the browser, not as %s: no cache written", si.Principal, principal)
	}
	return si, nil
}

// exchangeRoute is how the partial TGT reaches a DC: only through
// --kdc-proxy when given, or through the realm's first kdc in krb5.conf when
// it is a proxy URL; else over TCP to the krb5.conf KDCs, falling back, when
// none accepts a connection, to a proxy URL listed later in krb5.conf, else
// to the KDC proxy passkdc advertised.
func exchangeRoute(o options, si *client.SignedIn) (client.Route, error) {
	if o.kdcProxy != "" {
		return client.Route{Proxy: o.kdcProxy, ProxyOnly: true}, nil
	}
	kdcs, err := kdcsFor(o.krb5conf, si.Cred.Infos[0].SRealm)
	if err != nil && si.KDCProxy == "" {
		return client.Route{}, err
	}
	if len(kdcs) > 0 && strings.Contains(kdcs[0], "://") {
		return client.Route{Proxy: kdcs[0], ProxyOnly: true}, nil
	}
	r := client.Route{Proxy: si.KDCProxy, ConnectTimeout: o.connectTimeout}
	listed := ""
	for _, k := range kdcs {
		switch {
		case !strings.Contains(k, "://"):
			r.KDCs = append(r.KDCs, k)
		case listed == "":
			listed = k
		}
	}
	if listed != "" {
		r.Proxy = listed
	}
	return r, nil
}

// printKrb5Conf prints the krb5.conf snippet that sends realm's Kerberos
// traffic through the KDC proxy (MIT krb5 1.13+).
func printKrb5Conf(o options, principal string, out io.Writer) (int, error) {
	if o.kdcProxy == "" {
		return exitUsage, errors.New("--print-krb5-conf needs --kdc-proxy URL")
	}
	if err := client.CheckKDCProxyURL(o.kdcProxy); err != nil {
		return exitUsage, err
	}
	realm := o.realm
	if realm == "" {
		_, realm = krbname.Split(principal, "")
	}
	if realm == "" {
		return exitUsage, errors.New("--print-krb5-conf needs the realm: --realm REALM or PRINCIPAL@REALM")
	}
	realm = strings.ToUpper(realm)
	fmt.Fprintf(out, "[libdefaults]\n\tdefault_realm = %s\n\tdns_lookup_kdc = false\n\n[realms]\n\t%s = {\n\t\tkdc = %s\n", realm, realm, o.kdcProxy)
	if o.caFile != "" {
		abs, err := filepath.Abs(o.caFile)
		if err != nil {
			return exitUsage, err
		}
		if _, err := os.Stat(abs); err != nil {
			return exitUsage, fmt.Errorf("--ca-file: %w", err)
		}
		fmt.Fprintf(out, "\t\thttp_anchors = FILE:%s\n", abs)
	}
	fmt.Fprintln(out, "\t}")
	return exitOK, nil
}

func kdcsFor(krb5conf, realm string) ([]string, error) {
	if krb5conf == "" {
		krb5conf = os.Getenv("KRB5_CONFIG")
	}
	if krb5conf == "" {
		krb5conf = "/etc/krb5.conf"
	}
	// KRB5_CONFIG may list several files; the first one names the KDCs here.
	krb5conf = strings.Split(krb5conf, ":")[0]
	return tgs.KDCsFromConfig(krb5conf, realm)
}

// classify maps a sign-in error to an exit code.
func classify(err error) int {
	var api *client.APIError
	switch {
	case errors.As(err, &api):
		// A JSON error is passkdc's decision (a 503 "directory" too: it
		// could not confirm the account and failed closed). A bare 5xx came
		// from something in front of it.
		if api.Status >= 500 && strings.HasPrefix(api.Code, "http_") {
			return exitUnreachable
		}
		return exitRefused
	case errors.Is(err, client.ErrUntrusted):
		return exitUntrusted
	case errors.Is(err, client.ErrUnreachable):
		return exitUnreachable
	}
	return exitError
}
