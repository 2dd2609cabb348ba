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
