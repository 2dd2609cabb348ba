package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/internal/testenv"
	"github.com/passkdc/passkdc/keytabs"
)

// checkReport is `passkdc check --json` as scripts read it.
type checkReport struct {
	Results []struct {
		Name    string `json:"name"`
		OK      bool   `json:"ok"`
		Detail  string `json:"detail"`
		Problem string `json:"problem"`
		Fix     string `json:"fix"`
	} `json:"results"`
}

// runCheck runs the real `passkdc check` with the deployment's config, extra
// environment (config overrides) and flags; it returns the report and exit code.
func runCheck(t *testing.T, f *fixture, env []string, config string, flags ...string) (checkReport, int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"check", "--json", "--config", config, "--rodc-name", rodcName}, flags...)
	out, err := deploy.Run(ctx, append(os.Environ(), env...), f.Bin.Passkdc, args...)
	var rep checkReport
	if jerr := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep); jerr != nil {
		t.Fatalf("passkdc check --json: %v\n%s", jerr, out)
	}
	return rep, exitCode(err), out
}

func (r checkReport) failed(name string) (problem, fix string, ok bool) {
	for _, c := range r.Results {
		if c.Name == name && !c.OK {
			return c.Problem, c.Fix, true
		}
	}
	return "", "", false
}

func TestCheckPassesOnAGoodDeploymentAndNamesEachFault(t *testing.T) {
	f := domain(t)
	rep, code, out := runCheck(t, f, nil, f.Config)
	if code != 0 {
		t.Fatalf("passkdc check on a good deployment: exit %d\n%s", code, out)
	}
	for _, want := range []string{"config", "tls", "origins", "store", "keytab", "metadata", "directory", "base_dn", "rodc", "policy", "key", "kdc", "clock"} {
		found := false
		for _, c := range rep.Results {
			found = found || (c.Name == want && c.OK)
		}
		if !found {
			t.Errorf("check %q missing or failed on a good deployment:\n%s", want, out)
		}
	}

	dir := t.TempDir()
	wrongPW := filepath.Join(dir, "wrong.pw")
	if err := os.WriteFile(wrongPW, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other-ca.pem")
	writeUnrelatedCA(t, otherCA)
	closed := testenv.ClosedPort(t)
	looseKeytab := filepath.Join(dir, "loose.keytab")
	copyFile(t, f.Keytab, looseKeytab, 0o644)
	portMismatch := filepath.Join(dir, "port.yaml")
	cfg, err := os.ReadFile(f.Config)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(f.Listen)
	if err := os.WriteFile(portMismatch, []byte(strings.Replace(string(cfg), "https://localhost:"+port, "https://localhost:1"+port, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	staleKeytab := filepath.Join(dir, "stale.keytab")
	writeStaleKeytab(t, f.Keytab, staleKeytab)
	otherCert, otherKey := filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	writeServerCert(t, otherCert, otherKey, "other.example.test")

	for _, tc := range []struct {
		name, check, fixWants string
		env                   []string
		config                string
		flags                 []string
	}{
		{"wrong bind password", "directory", "ldap.bind_password_file", []string{"PASSKDC_LDAP_BIND_PASSWORD_FILE=" + wrongPW}, "", nil},
		{"unknown CA", "directory", "ldap.ca_file", []string{"PASSKDC_LDAP_INSECURE_SKIP_VERIFY=false", "PASSKDC_LDAP_CA_FILE=" + otherCA}, "", nil},
		{"keytab 0644", "keytab", "chmod 600", []string{"PASSKDC_KEYTAB=" + looseKeytab}, "", nil},
		{"DC's KDC unreachable", "kdc", "port 88", nil, "", []string{"--kdc", closed}},
		{"origin port mismatch", "origins", "listen port", nil, portMismatch, nil},
		{"keytab a version behind the DC", "key", "passkdc keytab import", []string{"PASSKDC_KEYTAB=" + staleKeytab}, "", nil},
		{"certificate not covering rp_id", "tls", "subjectAltName", []string{"PASSKDC_TLS_CERT=" + otherCert, "PASSKDC_TLS_KEY=" + otherKey}, "", nil},
		{"RODC that does not exist", "rodc", "passkdc rodc provision", nil, "", []string{"--rodc-name", "NOSUCHRODC"}},
		{"base DN that does not exist", "base_dn", "ldap.base_dn", []string{"PASSKDC_LDAP_BASE_DN=DC=nowhere," + f.dc.BaseDN()}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := tc.config
			if config == "" {
				config = f.Config
			}
			rep, code, out := runCheck(t, f, tc.env, config, tc.flags...)
			problem, fix, failed := rep.failed(tc.check)
			if code != 1 || !failed || !strings.Contains(problem+" "+fix, tc.fixWants) {
				t.Fatalf("want exit 1 with %q failing and naming %q; exit %d\n%s", tc.check, tc.fixWants, code, out)
			}
		})
	}
}

// TestSyncErrorsNameTheConfigKeyToFix: `passkdc sync` refused by the
// directory names the key to change, as check does: ldap.bind_password_file
// for a wrong password, ldap.ca_file for an unknown CA.
func TestSyncErrorsNameTheConfigKeyToFix(t *testing.T) {
	f := domain(t)
	dir := t.TempDir()
	wrongPW := filepath.Join(dir, "wrong.pw")
	if err := os.WriteFile(wrongPW, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other-ca.pem")
	writeUnrelatedCA(t, otherCA)
	for _, tc := range []struct {
		name, want string
		env        []string
	}{
		{"wrong bind password", "ldap.bind_password_file", []string{"PASSKDC_LDAP_BIND_PASSWORD_FILE=" + wrongPW}},
		{"unknown CA", "ldap.ca_file", []string{"PASSKDC_LDAP_INSECURE_SKIP_VERIFY=false", "PASSKDC_LDAP_CA_FILE=" + otherCA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := deploy.Run(ctx, append(os.Environ(), tc.env...), f.Bin.Passkdc, "sync", "--dry-run", "--config", f.Config)
			if exitCode(err) != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("passkdc sync: %v, want exit 1 naming %s\n%s", err, tc.want, out)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

// writeUnrelatedCA writes a CA certificate that signed nothing the DC has.
func writeUnrelatedCA(t *testing.T, path string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unrelated test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeStaleKeytab writes the keytab at from with every key one version
// older, as if the DC's key had been rotated since the import.
func writeStaleKeytab(t *testing.T, from, to string) {
	t.Helper()
	kt, err := keytabs.Load(from)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range kt.Entries {
		n, v := keytabs.SplitKVNO(e.KVNO)
		kt.Entries[i].KVNO = keytabs.EncodeKVNO(n, v-1)
	}
	if err := kt.WriteFile(to); err != nil {
		t.Fatal(err)
	}
}

// writeServerCert writes a self-signed certificate for host and its key.
func writeServerCert(t *testing.T, certPath, keyPath, host string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckKerberosKeytab: with kerberos.keytab and kerberos.spn set (from
// `passkdc rodc http-spn`), check verifies the keytab (present, 0600, an AES
// key of the SPN) and, at the DC, that the account holding the SPN is at the
// keytab's key version and gets AES tickets; each fault is one failed line
// naming the config key and the fix. A profile with kerberos in enrol_with
// but no kerberos.keytab is a config error for check and for serve.
func TestCheckKerberosKeytab(t *testing.T) {
	f := domain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	host := "pkcheck." + strings.ToLower(f.dc.Realm())
	spn := "HTTP/" + host
	good, stale := filepath.Join(dir, "http.keytab"), filepath.Join(dir, "stale.keytab")
	dn := "CN=PKCHECK-WEB,CN=Computers," + f.dc.BaseDN()
	t.Cleanup(func() { _ = f.dc.DeleteEntry(context.Background(), dn) })
	httpSPN := func() {
		t.Helper()
		if out, err := f.Directory(ctx, "rodc", "http-spn", "--account", "PKCHECK-WEB", "--host", host, "--keytab", good); err != nil {
			t.Fatalf("passkdc rodc http-spn: %v\n%s", err, out)
		}
	}
	httpSPN()
	copyFile(t, good, stale, 0o600)
	httpSPN() // the DC and good are a version past stale
	loose := filepath.Join(dir, "loose.keytab")
	copyFile(t, good, loose, 0o644)
	rc4 := filepath.Join(dir, "rc4.keytab")
	writeRC4Keytab(t, good, rc4)
	env := func(keytab, spn string) []string {
		return []string{"PASSKDC_KERBEROS_KEYTAB=" + keytab, "PASSKDC_KERBEROS_SPN=" + spn}
	}

	rep, code, out := runCheck(t, f, env(good, spn), f.Config)
	if code != 0 {
		t.Fatalf("passkdc check with a good kerberos.keytab: exit %d\n%s", code, out)
	}
	for _, want := range []string{"kerberos", "kerberos_key"} {
		found := false
		for _, c := range rep.Results {
			found = found || (c.Name == want && c.OK)
		}
		if !found {
			t.Errorf("check %q missing or failed with a good kerberos.keytab:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		name, check string
		env         []string
		wants       []string // in problem + fix
	}{
		{"keytab missing", "kerberos", env(filepath.Join(dir, "none.keytab"), spn), []string{"kerberos.keytab", "passkdc rodc http-spn"}},
		{"keytab 0644", "kerberos", env(loose, spn), []string{"kerberos.keytab", "chmod 600"}},
		{"no key of the SPN", "kerberos", env(good, "HTTP/other."+strings.ToLower(f.dc.Realm())), []string{"kerberos.spn", "passkdc rodc http-spn"}},
		{"RC4 only", "kerberos", env(rc4, spn), []string{"kerberos.keytab", "no AES key", "RC4"}},
		{"keytab a version behind the DC", "kerberos_key", env(stale, spn), []string{"kerberos.keytab", "PKCHECK-WEB$", "passkdc rodc http-spn --host " + host}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, code, out := runCheck(t, f, tc.env, f.Config)
			problem, fix, failed := rep.failed(tc.check)
			if code != 1 || !failed {
				t.Fatalf("want exit 1 with %q failing; exit %d\n%s", tc.check, code, out)
			}
			for _, w := range tc.wants {
				if !strings.Contains(problem+" "+fix, w) {
					t.Errorf("%s: %q / fix %q does not name %q", tc.check, problem, fix, w)
				}
			}
		})
	}
	t.Run("DC issues RC4 tickets for the SPN", func(t *testing.T) {
		if err := f.dc.SetAttribute(ctx, dn, "msDS-SupportedEncryptionTypes", "4"); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := f.dc.SetAttribute(context.Background(), dn, "msDS-SupportedEncryptionTypes", "24"); err != nil {
				t.Error(err)
			}
		}()
		rep, code, out := runCheck(t, f, env(good, spn), f.Config)
		if problem, fix, failed := rep.failed("kerberos_key"); code != 1 || !failed || !strings.Contains(problem, "RC4") || !strings.Contains(fix, "msDS-SupportedEncryptionTypes") {
			t.Fatalf("want exit 1 with kerberos_key failing on RC4; exit %d\n%s", code, out)
		}
	})
	t.Run("profile enrols with kerberos, no kerberos.keytab", func(t *testing.T) {
		profile := []string{`PASSKDC_PROFILES=[{name: k, target_groups: ["*"], enrol_with: [tap, kerberos]}]`}
		rep, code, out := runCheck(t, f, profile, f.Config)
		if problem, _, failed := rep.failed("config"); code != 1 || !failed || !strings.Contains(problem, "profiles[0].enrol_with") || !strings.Contains(problem, "kerberos.keytab") {
			t.Fatalf("check: want exit 1 with config failing on profiles[0].enrol_with; exit %d\n%s", code, out)
		}
		sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
		defer scancel()
		out, err := deploy.Run(sctx, append(os.Environ(), profile...), f.Bin.Passkdc, "serve", "--config", f.Config)
		if code := exitCode(err); code <= 0 || sctx.Err() != nil || !strings.Contains(out, "profiles[0].enrol_with") || !strings.Contains(out, "kerberos.keytab") {
			t.Fatalf("serve: want a start error naming profiles[0].enrol_with and kerberos.keytab; exit %d\n%s", code, out)
		}
	})
}

// writeRC4Keytab writes the keytab at from with its keys relabelled RC4
// (etype 23): a keytab without any AES key of the SPN.
func writeRC4Keytab(t *testing.T, from, to string) {
	t.Helper()
	kt, err := keytabs.Load(from)
	if err != nil {
		t.Fatal(err)
	}
	var rc4 []keytabs.Entry
	for _, e := range kt.Entries {
		if e.Key.KeyType == 17 {
			e.Key.KeyType = 23
			rc4 = append(rc4, e)
		}
	}
	kt.Entries = rc4
	if err := kt.WriteFile(to); err != nil {
		t.Fatal(err)
	}
}
