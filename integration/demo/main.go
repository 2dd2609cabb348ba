// Command demo walks passkdc's main path on this machine, with nothing but
// loopback: it brings up a throwaway Active Directory domain (Samba AD DC),
// provisions passkdc in it as a read-only DC, mirrors the directory, starts
// passkdc, enrols a software passkey with a temporary access pass, signs in
// with passkinit, and uses the resulting Kerberos tickets with unmodified MIT
// klist/kvno and smbclient. Everything it started is stopped at the end.
//
// Run it with scripts/demo (which installs the Debian packages first), or
// `go run ./integration/demo` from the repository root, as root.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
)

func main() {
	ip := flag.String("ip", "127.0.0.20", "loopback address for the throwaway DC")
	keep := flag.Bool("keep", false, "keep the demo's state directory (printed) instead of removing it")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	if err := run(ctx, os.Stdout, *ip, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo: FAILED:", err)
		os.Exit(1)
	}
	fmt.Printf("\ndemo: OK in %s — a passkey sign-in gave alice Kerberos tickets the DC honours.\n", time.Since(start).Round(time.Second))
}

// step prints a numbered heading.
type stepper struct {
	w io.Writer
	n int
}

func (s *stepper) step(format string, args ...any) {
	s.n++
	fmt.Fprintf(s.w, "\n== %d. %s\n", s.n, fmt.Sprintf(format, args...))
}

func (s *stepper) show(cmd, out string) {
	fmt.Fprintf(s.w, "$ %s\n", cmd)
	if out != "" {
		fmt.Fprintln(s.w, indent(out))
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

func run(ctx context.Context, w io.Writer, ip string, keep bool) error {
	if missing := samba.Missing(); len(missing) > 0 {
		return fmt.Errorf("missing prerequisites %v: run scripts/demo, which installs them from Debian packages", missing)
	}
	root, err := deploy.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "passkdc-demo-")
	if err != nil {
		return err
	}
	// samba's shares are read as mapped users: the directory must be traversable.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(w, "demo: state kept in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	s := &stepper{w: w}

	s.step("Build passkdc and passkinit from this checkout")
	bin, err := deploy.Build(ctx, root, filepath.Join(dir, "bin"))
	if err != nil {
		return err
	}

	s.step("Start a throwaway AD domain %s (Samba AD DC) on %s", samba.DefaultRealm, ip)
	dc, err := samba.Start(ctx, samba.Options{Dir: filepath.Join(dir, "samba"), IP: ip, Keep: keep})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(w, "\n== Stopping the DC")
		if err := dc.Stop(); err != nil {
			fmt.Fprintln(w, "demo: stopping samba:", err)
		}
	}()
	fmt.Fprintf(w, "DC %s (%s) is up: provisioned in %s\n", dc.FQDN(), dc.IP(), dc.Timings().Provision.Round(100*time.Millisecond))

	s.step("Create alice, a member of the Allowed RODC Password Replication Group")
	alice, err := dc.CreateUser(ctx, "alice", "Passw0rd.Alice1")
	if err != nil {
		return err
	}
	if err := dc.AddMember(ctx, "CN=Allowed RODC Password Replication Group,CN=Users,"+dc.BaseDN(), alice.DN); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n  objectSid  %s\n  objectGUID %s (passkdc's anchor and the passkey's user handle)\n", alice.DN, alice.SID, alice.GUID)

	s.step("Provision passkdc as a read-only DC, fetch its krbtgt key over DRSUAPI, write the config")
	d, err := deploy.Provision(ctx, deploy.Options{DC: dc, Bin: bin, Dir: filepath.Join(dir, "passkdc"), FetchKey: true})
	if err != nil {
		return err
	}
	flags := " --ldap-url " + dc.LDAPURL() + " --bind-dn " + dc.AdminBindDN() + " --bind-password-file bind.pw --insecure-skip-verify"
	s.show("passkdc rodc provision"+flags, d.Provisioned)
	s.show("passkdc rodc fetch-key"+flags+" --keytab krbtgt.keytab   # DRSUAPI, as against Windows DCs: no shell on the DC", d.Fetched)
	out, err := deploy.Run(ctx, nil, bin.Passkdc, "keytab", "list", d.Keytab)
	if err != nil {
		return fmt.Errorf("passkdc keytab list: %w\n%s", err, out)
	}
	s.show("passkdc keytab list krbtgt.keytab", out)

	s.step("Mirror the directory")
	if out, err = d.Passkdc(ctx, "sync", "--full"); err != nil {
		return fmt.Errorf("passkdc sync: %w\n%s", err, out)
	}
	s.show("passkdc sync --full --config passkdc.yaml", out)

	s.step("Start passkdc (TLS with a self-signed certificate)")
	if err := d.Serve(ctx); err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(w, "\n== Stopping passkdc (SIGTERM: drains, then exits)")
		if err := d.Stop(); err != nil {
			fmt.Fprintln(w, "demo: stopping passkdc:", err)
		}
	}()
	fmt.Fprintf(w, "passkdc serves %s; clients trust %s\n", d.URL, d.CAFile)

	s.step("The administrator gives alice a temporary access pass")
	pass, err := d.IssueTAP(ctx, "alice")
	if err != nil {
		return err
	}
	s.show("passkdc tap issue alice --uses 1 --ttl 10m --config passkdc.yaml", "(pass printed alone on the last line; not shown here)")

	s.step("alice enrols a passkey and signs in with passkinit")
	cc := filepath.Join(dir, "alice.ccache")
	key := filepath.Join(dir, "alice.passkey")
	out, err = d.Passkinit(ctx, nil, "--authenticator", "soft:"+key, "--register", "--tap", pass, "-c", cc)
	if err != nil {
		return fmt.Errorf("passkinit: %w\n%s", err, out)
	}
	s.show("passkinit --server "+d.URL+" --ca-file tls.crt --authenticator soft:alice.passkey --register --tap *** -c alice.ccache", out)

	s.step("MIT Kerberos and SMB use the cache unchanged")
	env := append(append(os.Environ(), dc.ClientEnv()...), "KRB5CCNAME=FILE:"+cc)
	for _, args := range [][]string{{"kvno", "cifs/" + dc.FQDN()}, {"klist"}} {
		out, err := deploy.Run(ctx, env, args[0], args[1:]...)
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, out)
		}
		s.show(strings.Join(args, " "), out)
	}
	smb := dc.SMBClient(ctx, cc, "netlogon", "-c", "ls")
	b, err := smb.CombinedOutput()
	if err != nil {
		return fmt.Errorf("smbclient: %w\n%s", err, b)
	}
	s.show("smbclient --use-kerberos=required //"+dc.FQDN()+"/netlogon -c ls", string(b))

	s.step("The audit trail: every decision is one structured line")
	for _, line := range strings.Split(d.Log(), "\n") {
		if strings.Contains(line, `"audit":true`) {
			fmt.Fprintln(w, indent(line))
		}
	}
	return ctx.Err()
}
