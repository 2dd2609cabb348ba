package samba

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrClient is wrapped by errors from client programs run by the harness
// (kinit, samba-tool exportkeytab); the error carries their output.
var ErrClient = errors.New("samba: client command failed")

// Realm returns the Kerberos realm (CORP.EXAMPLE.TEST).
func (dc *DC) Realm() string { return dc.opts.Realm }

// Domain returns the NetBIOS domain name (CORP).
func (dc *DC) Domain() string { return dc.opts.Domain }

// FQDN returns the DC's host name (dc1.corp.example.test); it resolves to IP
// for programs run with ClientEnv.
func (dc *DC) FQDN() string { return dc.opts.Host + "." + strings.ToLower(dc.opts.Realm) }

// IP returns the loopback address the DC binds.
func (dc *DC) IP() string { return dc.ip.String() }

// KDCAddr returns the KDC's address, IP:88.
func (dc *DC) KDCAddr() string { return dc.IP() + ":88" }

// LDAPSAddr returns the LDAPS address, IP:636.
func (dc *DC) LDAPSAddr() string { return dc.IP() + ":636" }

// LDAPURL returns ldaps://IP: the certificate names the IP too, so it
// verifies against CAFile without name resolution.
func (dc *DC) LDAPURL() string { return "ldaps://" + dc.IP() }

// AdminPrincipal returns administrator@REALM.
func (dc *DC) AdminPrincipal() string { return "administrator@" + dc.opts.Realm }

// AdminPassword returns the administrator's password.
func (dc *DC) AdminPassword() string { return dc.opts.AdminPassword }

// AdminBindDN returns the administrator's bind name for simple binds.
func (dc *DC) AdminBindDN() string { return dc.AdminPrincipal() }

// Dir returns the directory holding all of the DC's state.
func (dc *DC) Dir() string { return dc.dir }

// SMBConf returns the DC's smb.conf (for samba-tool -s).
func (dc *DC) SMBConf() string { return filepath.Join(dc.target, "etc", "smb.conf") }

// ClientSMBConf returns an smb.conf for Samba client tools (smbclient -s):
// realm and workgroup set, names resolved through the hosts file, and the
// tools' state under Dir instead of /var.
func (dc *DC) ClientSMBConf() string { return filepath.Join(dc.dir, "client", "smb.conf") }

// KRB5Conf returns the clients' krb5.conf (KDC = IP).
func (dc *DC) KRB5Conf() string { return filepath.Join(dc.dir, "krb5.conf") }

// CAFile returns the PEM CA certificate that signed the DC's LDAPS
// certificate (valid for FQDN, the short name, the DNS domain and IP; with
// Options.StockTLS Samba's own ca.pem, and the certificate names only FQDN
// in its subject CN).
func (dc *DC) CAFile() string { return dc.tls.CA }

// CertFile returns the DC's LDAPS certificate (PEM).
func (dc *DC) CertFile() string { return dc.tls.Cert }

// Generation returns the Samba generation running the DC (GenerationHost
// or Generation422).
func (dc *DC) Generation() string { return dc.gen.name }

// LogPath returns samba's log (its stdout and stderr).
func (dc *DC) LogPath() string { return filepath.Join(dc.target, "log", "samba.log") }

// LogTail returns the last n lines of samba's log.
func (dc *DC) LogTail(n int) string { return tailFile(dc.LogPath(), n) }

// Timings returns the measured provision and start durations.
func (dc *DC) Timings() Timings { return dc.timings }

// TLSConfig returns a TLS client configuration that trusts only the DC's CA
// and verifies the server name FQDN. With Options.StockTLS (no
// subjectAltName, which crypto/tls refuses for name checks) it pins the DC's
// certificate file instead: only that exact certificate is accepted.
func (dc *DC) TLSConfig() (*tls.Config, error) {
	if dc.opts.StockTLS {
		return pinnedTLSConfig(dc.CertFile())
	}
	return tlsConfig(dc.CAFile(), dc.FQDN())
}

func (dc *DC) hostsPath() string  { return filepath.Join(dc.dir, "hosts") }
func (dc *DC) resolvPath() string { return filepath.Join(dc.dir, "resolv.conf") }

// ClientEnv returns the environment for client programs: MIT krb5 uses
// KRB5_CONFIG; nss_wrapper and resolv_wrapper (LD_PRELOAD) make FQDN resolve
// to IP and keep DNS on loopback without touching /etc; ldap-utils trust the
// DC's CA. KRB5CCNAME points at a cache under Dir: append your own
// KRB5CCNAME=... to use another (the last entry wins in exec.Cmd.Env).
func (dc *DC) ClientEnv() []string {
	return []string{
		"KRB5_CONFIG=" + dc.KRB5Conf(),
		"KRB5CCNAME=FILE:" + filepath.Join(dc.dir, "client", "default.ccache"),
		"NSS_WRAPPER_HOSTS=" + dc.hostsPath(),
		"NSS_WRAPPER_PASSWD=/etc/passwd",
		"NSS_WRAPPER_GROUP=/etc/group",
		"RESOLV_WRAPPER_CONF=" + dc.resolvPath(),
		"LD_PRELOAD=libnss_wrapper.so:libresolv_wrapper.so",
		"LDAPTLS_CACERT=" + dc.CAFile(),
	}
}

// Command returns a command whose environment is the current one plus
// ClientEnv.
func (dc *DC) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), dc.ClientEnv()...)
	return cmd
}

// SMBClient returns `smbclient -s ClientSMBConf --use-kerberos=required
// --use-krb5-ccache=CCACHE //FQDN/SHARE ARGS...` with ClientEnv and
// KRB5CCNAME=CCACHE: smbclient 4.17's GSSAPI layer still reads KRB5CCNAME
// and fails ("Could not find a suitable mechtype") when it names an empty
// cache, whatever --use-krb5-ccache says.
func (dc *DC) SMBClient(ctx context.Context, ccache, share string, args ...string) *exec.Cmd {
	base := []string{"-s", dc.ClientSMBConf(), "--use-kerberos=required",
		"--use-krb5-ccache=" + ccache, "//" + dc.FQDN() + "/" + share}
	cmd := dc.Command(ctx, "smbclient", append(base, args...)...)
	cmd.Env = append(cmd.Env, "KRB5CCNAME="+ccacheName(ccache))
	return cmd
}

// Kinit obtains a TGT for principal (a bare name gets the DC's realm) into
// ccache (a path or TYPE:residual) with MIT kinit.
func (dc *DC) Kinit(ctx context.Context, principal, password, ccache string) error {
	kinit, err := toolPath("kinit")
	if err != nil {
		return err
	}
	cmd := dc.Command(ctx, kinit, principal)
	cmd.Env = append(cmd.Env, "KRB5CCNAME="+ccacheName(ccache))
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: kinit %s: %w: %s", ErrClient, principal, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ccacheName adds FILE: to a bare path.
func ccacheName(c string) string {
	if strings.HasPrefix(c, "/") {
		return "FILE:" + c
	}
	return c
}

// ExportKeytab writes the keys of principal (e.g. krbtgt_12345 or
// HOST/dc1) to a new keytab at path, mode 0600, with `samba-tool domain
// exportkeytab`. An existing file at path is replaced.
func (dc *DC) ExportKeytab(ctx context.Context, principal, path string) error {
	sambaTool, err := dc.gen.toolPath("samba-tool")
	if err != nil {
		return err
	}
	// samba-tool creates the file with the umask's mode: let it do so in a
	// private directory under Dir (which a chrooted samba-tool sees at the
	// same path) and copy the keys into place with mode 0600.
	tmpDir, err := os.MkdirTemp(filepath.Join(dc.dir, "client"), ".keytab-")
	if err != nil {
		return fmt.Errorf("samba: keytab dir: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	if err := os.Chmod(tmpDir, 0o700); err != nil {
		return fmt.Errorf("samba: keytab dir: %w", err)
	}
	tmp := filepath.Join(tmpDir, "keytab")
	cmd := dc.gen.command(ctx, Python, sambaTool, "domain", "exportkeytab", tmp,
		"--principal="+principal, "-s", dc.SMBConf())
	cmd.Env = toolEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: exportkeytab %s: %w: %s", ErrClient, principal, err, strings.TrimSpace(string(out)))
	}
	keys, err := os.ReadFile(tmp)
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("%w: exportkeytab %s wrote no keys", ErrClient, principal)
	}
	return writeFileAtomic(path, keys, 0o600)
}

// writeFileAtomic writes data to a new file beside path with mode and renames
// it over path, so that readers never see a partial or wider-mode file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("samba: write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("samba: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("samba: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("samba: write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("samba: install %s: %w", path, err)
	}
	return nil
}

// SambaTool runs `samba-tool ARGS... -s SMBConf` on the DC's database (e.g.
// dsacl set) and returns its combined output.
func (dc *DC) SambaTool(ctx context.Context, args ...string) (string, error) {
	sambaTool, err := toolPath("samba-tool")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, Python, append(append([]string{sambaTool}, args...), "-s", dc.SMBConf())...)
	cmd.Env = toolEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%w: samba-tool %s: %w: %s", ErrClient, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// writeClientFiles writes krb5.conf, the nss_wrapper hosts file, the
// resolv_wrapper resolv.conf and the client smb.conf.
func (dc *DC) writeClientFiles() error {
	files := map[string]string{
		dc.KRB5Conf():      dc.krb5Conf(),
		dc.hostsPath():     dc.hostsFile(),
		dc.resolvPath():    "nameserver " + dc.IP() + "\n",
		dc.ClientSMBConf(): dc.clientSMBConf(),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("samba: write %s: %w", path, err)
		}
	}
	return nil
}

func (dc *DC) hostsFile() string {
	return fmt.Sprintf("%s %s %s\n%s %s\n127.0.0.1 localhost\n::1 localhost\n",
		dc.IP(), dc.FQDN(), dc.opts.Host, dc.IP(), strings.ToLower(dc.opts.Realm))
}

func (dc *DC) krb5Conf() string {
	r, d := dc.opts.Realm, strings.ToLower(dc.opts.Realm)
	return fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
	ticket_lifetime = 10h
	forwardable = true
	udp_preference_limit = 1

[realms]
	%[1]s = {
		kdc = %[3]s
		admin_server = %[3]s
		kpasswd_server = %[3]s
	}

[domain_realm]
	.%[2]s = %[1]s
	%[2]s = %[1]s
`, r, d, dc.IP())
}

func (dc *DC) clientSMBConf() string {
	state := filepath.Join(dc.dir, "client")
	return fmt.Sprintf(`[global]
	workgroup = %s
	realm = %s
	name resolve order = host
	lock directory = %[3]s
	state directory = %[3]s
	cache directory = %[3]s
	private dir = %[3]s
	ncalrpc dir = %[3]s/ncalrpc
	log file = %[3]s/log.%%m
	load printers = no
`, dc.opts.Domain, dc.opts.Realm, state)
}
