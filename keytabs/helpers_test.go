package keytabs

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// mitEnv returns an environment for MIT tools pointing at a private
// krb5.conf and credential cache in a temporary directory, in the C locale
// and UTC.
func mitEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n\tdefault_realm = EXAMPLE.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"KRB5_CONFIG=" + conf,
		"KRB5CCNAME=FILE:" + filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:" + filepath.Join(dir, "default.keytab"),
		"LC_ALL=C",
		"TZ=UTC",
	}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PATH=") || strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustPrincipal(t testing.TB, s string) Principal {
	t.Helper()
	p, err := ParsePrincipal(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testTime is a fixed timestamp for entries built by tests.
var testTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func entry(t testing.TB, principal string, kvno uint32, etype int32, key []byte) Entry {
	t.Helper()
	return Entry{
		Principal: mustPrincipal(t, principal),
		Timestamp: testTime,
		KVNO:      kvno,
		Key:       types.EncryptionKey{KeyType: etype, KeyValue: key},
	}
}

// fill returns n bytes of value b, a recognisable fake key.
func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func entriesEqual(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !entryEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func entryEqual(a, b Entry) bool {
	return a.Principal.Equal(b.Principal) && a.Principal.Realm == b.Principal.Realm &&
		a.Principal.NameType == b.Principal.NameType && a.Timestamp.Equal(b.Timestamp) &&
		a.KVNO == b.KVNO && a.Key.KeyType == b.Key.KeyType && bytes.Equal(a.Key.KeyValue, b.Key.KeyValue)
}
