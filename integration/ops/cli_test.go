package ops

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/internal/mdstest"
	"github.com/passkdc/passkdc/keytabs"
)

// result runs a binary and returns its combined output and exit code.
func result(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", bin, err)
	}
	return string(out), 0
}

// TestAdminCLIThroughTheBinary proves, with the built passkdc and a real
// config file, what scripts and operators rely on: errors that name the key
// to fix and no storage internals, the ranges in --help, keytab import's
// warnings and reload note, standalone commands refused when a directory is
// configured, and check's config and metadata results.
func TestAdminCLIThroughTheBinary(t *testing.T) {
	bin := buildPasskdc(t)
	cfg := writeConfig(t, freePort(t), "")
	dir := t.TempDir()

	t.Run("cred revoke of an unknown ID", func(t *testing.T) {
		out, code := result(t, bin, "cred", "revoke", "AAAA", "--config", cfg)
		if code != 1 || !strings.Contains(out, "passkdc cred list") || strings.Contains(strings.ToLower(out), "sqlite") {
			t.Fatalf("exit %d, want 1 pointing at passkdc cred list without storage internals:\n%s", code, out)
		}
	})

	t.Run("tap issue ranges", func(t *testing.T) {
		out, code := result(t, bin, "tap", "issue", "--help")
		if code != 0 || !strings.Contains(out, "(1 to 100)") || !strings.Contains(out, "(1m to 720h)") {
			t.Fatalf("tap issue --help (exit %d) does not state the ranges:\n%s", code, out)
		}
		for _, args := range [][]string{{"--uses", "0"}, {"--uses", "101"}, {"--ttl", "30s"}, {"--ttl", "721h"}} {
			if out, code := result(t, bin, append([]string{"tap", "issue", "alice", "--config", cfg}, args...)...); code != 2 {
				t.Errorf("tap issue %v: exit %d, want 2 (usage)\n%s", args, code, out)
			}
		}
	})

	t.Run("tap list needs no user", func(t *testing.T) {
		if out, code := result(t, bin, "tap", "list", "--json", "--config", cfg); code != 0 || strings.TrimSpace(out) != "[]" {
			t.Fatalf("tap list --json without a user: exit %d\n%s", code, out)
		}
	})

	t.Run("keytab import warnings", func(t *testing.T) {
		key, err := keytabs.StringToKey(18, "k", keytabs.ADUserSalt(realm, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		src, dst := filepath.Join(dir, "user.keytab"), filepath.Join(dir, "dst.keytab")
		kt := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: keytabs.NewPrincipal(realm, "alice"), KVNO: 3, Key: key}}}
		if err := kt.WriteFile(src); err != nil {
			t.Fatal(err)
		}
		if out, code := result(t, bin, "keytab", "import", src, "--to", dst, "--strict"); code != 1 || !strings.Contains(out, "not an RODC krbtgt_N account") {
			t.Fatalf("--strict with an ordinary account's key: exit %d\n%s", code, out)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Fatalf("--strict refused but wrote %s (%v)", dst, err)
		}
		out, code := result(t, bin, "keytab", "import", src, "--to", dst)
		if code != 0 || !strings.Contains(out, "warning: alice@"+realm+" is not an RODC krbtgt_N account") || !strings.Contains(out, "a running passkdc serve loads them") {
			t.Fatalf("import of an ordinary account's key: exit %d, want a warning and the reload note\n%s", code, out)
		}
	})

	t.Run("standalone commands refused with a directory", func(t *testing.T) {
		raw, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		withDir := filepath.Join(dir, "dir.yaml")
		yaml := strings.Replace(string(raw), "standalone: {enabled: true, allow: [\"S-1-5-21-1-2-3-571\"]}\n",
			"ldap: {url: \"ldaps://127.0.0.1:1\", bind_dn: x@CORP.EXAMPLE.TEST, bind_password_file: /nonexistent, base_dn: \"DC=corp,DC=example,DC=test\"}\n", 1)
		writeFile(t, withDir, []byte(yaml))
		for _, args := range [][]string{{"principal", "add", "bob", "--sid", "S-1-5-21-1-2-3-1105"}, {"group", "remove", "staff"}} {
			if out, code := result(t, bin, append(args, "--config", withDir)...); code != 1 || !strings.Contains(out, "run passkdc sync") {
				t.Errorf("passkdc %v with a directory: exit %d\n%s", args, code, out)
			}
		}
	})

	t.Run("check names the config key", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		writeFile(t, bad, []byte("realm: CORP.EXAMPLE.TEST\nlisten: nonsense\nrp_id: localhost\n"))
		out, code := result(t, bin, "check", "--json", "--config", bad)
		var rep struct {
			Results []struct{ Name, Problem, Fix string }
		}
		if code != 1 || json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &rep) != nil || len(rep.Results) == 0 ||
			rep.Results[0].Name != "config" || !strings.Contains(rep.Results[0].Problem, "listen") {
			t.Fatalf("check with an invalid config: exit %d, want 1 with the config result naming listen\n%s", code, out)
		}
	})

	t.Run("check reports a stale metadata blob", func(t *testing.T) {
		root := mdstest.NewRoot(t, "MDS root")
		blob, rootFile := filepath.Join(dir, "mds.jwt"), filepath.Join(dir, "root.pem")
		writeFile(t, blob, mdstest.MakeBlobNextUpdate(t, root, "2026-01-01"))
		writeFile(t, rootFile, root.PEM())
		stale := writeConfig(t, freePort(t), "profiles: [{name: hw, target_groups: [\"*\"], attestation: enforced}]\n"+
			"metadata: {blob_file: "+blob+", root_file: "+rootFile+"}\n")
		out, code := result(t, bin, "check", "--config", stale)
		if code != 1 || !strings.Contains(out, "FAIL  metadata") || !strings.Contains(out, "nextUpdate 2026-01-01 has passed") {
			t.Fatalf("check with a stale blob: exit %d\n%s", code, out)
		}
		writeFile(t, blob, mdstest.MakeBlob(t, root))
		if out, code := result(t, bin, "check", "--config", stale); code != 0 || !strings.Contains(out, "ok    metadata") {
			t.Fatalf("check with a fresh blob: exit %d\n%s", code, out)
		}
	})
}

// TestPasskinitTellsAnUntrustedCertificateFromAnUnreachableServer runs the
// built passkinit: exit 6 with the --ca-file hint for a certificate it does
// not trust, exit 4 when nothing listens.
func TestPasskinitTellsAnUntrustedCertificateFromAnUnreachableServer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "passkinit")
	build := exec.Command("go", "build", "-o", bin, "github.com/passkdc/passkdc/cmd/passkinit")
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build passkinit: %v\n%s", err, out)
	}
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()
	args := func(server string) []string {
		return []string{"--server", server, "--authenticator", "soft:" + filepath.Join(t.TempDir(), "k.passkey"),
			"--register", "--tap", "AAAA-BBBB", "--no-exchange", "-c", filepath.Join(t.TempDir(), "cc"), "alice"}
	}
	if out, code := result(t, bin, args(srv.URL)...); code != 6 || !strings.Contains(out, "--ca-file") {
		t.Errorf("untrusted certificate: exit %d, want 6 naming --ca-file\n%s", code, out)
	}
	if out, code := result(t, bin, append(args(srv.URL), "--ca-file", ca)...); code == 6 || code == 4 {
		t.Errorf("with --ca-file: exit %d, want neither untrusted nor unreachable\n%s", code, out)
	}
	if out, code := result(t, bin, args(closed)...); code != 4 || !strings.Contains(out, "cannot reach passkdc") {
		t.Errorf("nothing listening: exit %d, want 4\n%s", code, out)
	}
}
