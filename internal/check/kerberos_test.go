package check

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/keytabs"
)

// writeHTTPKeytab writes a keytab of HTTP/passkdc.corp.example.test at kvno
// 3 with keys of the given etypes, in mode.
func writeHTTPKeytab(t *testing.T, path string, mode os.FileMode, etypes ...int32) {
	t.Helper()
	kt := &keytabs.Keytab{}
	for _, et := range etypes {
		n := 32
		if et != 18 {
			n = 16
		}
		kt.Entries = append(kt.Entries, keytabs.Entry{Principal: keytabs.NewPrincipal("CORP.EXAMPLE.TEST", "HTTP", "passkdc.corp.example.test"),
			Timestamp: time.Now().UTC().Truncate(time.Second), KVNO: 3,
			Key: types.EncryptionKey{KeyType: et, KeyValue: bytes.Repeat([]byte{byte(et)}, n)}})
	}
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestKerberosKeytab(t *testing.T) {
	dir := t.TempDir()
	good, loose, rc4 := filepath.Join(dir, "good"), filepath.Join(dir, "loose"), filepath.Join(dir, "rc4")
	writeHTTPKeytab(t, good, 0o600, 17, 18)
	writeHTTPKeytab(t, loose, 0o640, 17, 18)
	writeHTTPKeytab(t, rc4, 0o600, 23)
	const spn = "HTTP/passkdc.corp.example.test"
	for _, tc := range []struct {
		name, keytab, spn string
		ok                bool
		want              string // in detail, or problem + fix
	}{
		{"good", good, spn, true, "key version 3, AES"},
		{"missing", filepath.Join(dir, "none"), spn, false, "kerberos.keytab " + filepath.Join(dir, "none") + " does not exist"},
		{"group-readable", loose, spn, false, "chmod 600"},
		{"another SPN", good, "HTTP/other.corp.example.test", false, "no key of kerberos.spn"},
		{"RC4 only", rc4, spn, false, "RC4 is refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{cfg: &config.Config{Realm: "CORP.EXAMPLE.TEST", Kerberos: config.Kerberos{Keytab: tc.keytab, SPN: tc.spn}}}
			r.kerberos()
			res := only(t, r, "kerberos")
			text := res.Detail + res.Problem + " " + res.Fix
			if res.OK != tc.ok || !strings.Contains(text, tc.want) || (!tc.ok && !res.Fatal) {
				t.Fatalf("%+v, want ok=%v (fatal otherwise) naming %q", res, tc.ok, tc.want)
			}
			if (r.httpKVNO == 3) != tc.ok {
				t.Fatalf("httpKVNO %d after ok=%v", r.httpKVNO, res.OK)
			}
		})
	}
	t.Run("not configured", func(t *testing.T) {
		r := &run{cfg: &config.Config{}}
		r.kerberos()
		if len(r.results) != 0 {
			t.Fatalf("results %+v without a kerberos section", r.results)
		}
	})
}
