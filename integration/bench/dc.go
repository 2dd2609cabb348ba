package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
)

// dcIP is the loopback address of the bench's Samba DC (-dc).
const dcIP = "127.0.0.94"

// benchDCUser is the directory user passkinit signs in as against the DC.
const benchDCUser = "benchuser"

// dcLimits lifts `passkdc serve`'s rate limits: the runs sign in one
// principal from one address many times a second.
const dcLimits = "limits: {per_address_per_minute: 1000000, per_address_burst: 100000, per_principal_per_minute: 1000000, per_principal_burst: 100000}\n"

// measurePasskinitDC starts a throwaway Samba AD DC on dcIP, installs
// passkdc into it as an administrator does (integration/deploy: rodc
// provision, key export and import, sync, `passkdc serve`), enrols a soft
// passkey for a user in the Allowed RODC Password Replication Group, then
// times passkinit against that `passkdc serve`, without and with the
// exchange of the partial TGT at the DC.
func measurePasskinitDC(ctx context.Context, root string, o Options, progress io.Writer) ([]*PasskinitResult, error) {
	if missing := samba.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("Samba DC prerequisites missing: %v", missing)
	}
	dir := filepath.Join(root, "dc")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fmt.Fprintln(progress, "bench: DC: building cmd/passkdc and cmd/passkinit")
	modRoot, err := deploy.ModuleRoot()
	if err != nil {
		return nil, err
	}
	bin, err := deploy.Build(ctx, modRoot, filepath.Join(dir, "bin"))
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "bench: DC: starting a Samba AD DC on %s\n", dcIP)
	dc, err := samba.Start(ctx, samba.Options{IP: dcIP, CacheDir: samba.CacheDirFromEnv()})
	if err != nil {
		return nil, err
	}
	defer dc.Stop()
	d, err := deployDC(ctx, dc, bin, filepath.Join(dir, "passkdc"))
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	key := filepath.Join(dir, benchDCUser+".passkey")
	if err := enrolDC(ctx, d, key, filepath.Join(dir, "cc-register")); err != nil {
		return nil, err
	}
	env := append(os.Environ(), dc.ClientEnv()...)
	base := []string{"--server", d.URL, "--ca-file", d.CAFile, "--authenticator", "soft:" + key}
	runs := []passkinitRun{
		{mode: "`passkdc serve` in a Samba domain, --no-exchange", exe: bin.Passkinit, env: env, want: "partial TGT for ",
			args: append(base[:len(base):len(base)], "--no-exchange")},
		{mode: "`passkdc serve` in a Samba domain, exchange at the DC (full TGT)", exe: bin.Passkinit, env: env, want: "TGT for ", args: base},
	}
	return timePasskinit(ctx, runs, dir, o.PasskinitRuns, progress)
}

// deployDC creates the user, provisions passkdc, syncs and serves.
func deployDC(ctx context.Context, dc *samba.DC, bin deploy.Binaries, dir string) (*deploy.Deployment, error) {
	u, err := dc.CreateUser(ctx, benchDCUser, "Passw0rd.Bench1")
	if err != nil {
		return nil, err
	}
	if err := dc.AddMember(ctx, "CN=Allowed RODC Password Replication Group,CN=Users,"+dc.BaseDN(), u.DN); err != nil {
		return nil, err
	}
	d, err := deploy.Provision(ctx, deploy.Options{DC: dc, Bin: bin, Dir: dir, ExtraYAML: dcLimits})
	if err != nil {
		return nil, err
	}
	if out, err := d.Passkdc(ctx, "sync", "--full"); err != nil {
		return nil, fmt.Errorf("passkdc sync --full: %w\n%s", err, out)
	}
	if err := d.Serve(ctx); err != nil {
		return nil, fmt.Errorf("passkdc serve: %w\n%s", err, d.Log())
	}
	return d, nil
}

// enrolDC registers the soft passkey key for benchDCUser with a temporary
// access pass (and checks that the exchange works once).
func enrolDC(ctx context.Context, d *deploy.Deployment, key, cc string) error {
	pass, err := d.IssueTAP(ctx, benchDCUser)
	if err != nil {
		return err
	}
	out, err := d.Passkinit(ctx, nil, "--authenticator", "soft:"+key, "--register", "--tap", pass, "-c", cc)
	if err != nil {
		return fmt.Errorf("passkinit --register: %w\n%s", err, out)
	}
	return nil
}
