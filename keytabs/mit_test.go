package keytabs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/testenv"
)

// mitEtypeNames are MIT's enctype names as ktutil takes and klist prints them.
var mitEtypeNames = map[int32]string{
	17: "aes128-cts-hmac-sha1-96",
	18: "aes256-cts-hmac-sha1-96",
	19: "aes128-cts-hmac-sha256-128",
	20: "aes256-cts-hmac-sha384-192",
	23: "arcfour-hmac",
}

func runMIT(t *testing.T, env []string, dir, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.RequireTool(t, name), args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, out.String(), errb.String())
	}
	// ktutil exits 0 after a failed request; it reports it on stderr.
	if errb.Len() > 0 {
		t.Fatalf("%s %v reported:\n%s", name, args, errb.String())
	}
	return out.String()
}

type mitKey struct {
	principal string
	kvno      uint32
	etype     int32
	password  string
}

// TestMITKtutilKeytab parses a keytab written by MIT ktutil and checks every
// key against StringToKey with MIT's default salt.
func TestMITKtutilKeytab(t *testing.T) {
	env := mitEnv(t)
	dir := t.TempDir()
	keys := []mitKey{
		{"user@EXAMPLE.TEST", 3, 18, "S3cret pass"},
		{"user@EXAMPLE.TEST", 3, 17, "S3cret pass"},
		{"user@EXAMPLE.TEST", 4, 19, "an0ther one"},
		{"user@EXAMPLE.TEST", 4, 20, "an0ther one"},
		{"user@EXAMPLE.TEST", 4, 23, "p\u00e4ss \U0001D11E"},
		{"host/x.example.test@EXAMPLE.TEST", 70000, 18, "hostpw"},
		{"krbtgt_40000@EXAMPLE.TEST", EncodeKVNO(40000, 1), 18, "rodc key"},
		{"krbtgt/EXAMPLE.TEST@EXAMPLE.TEST", 300, 20, "tgt key"},
	}
	var script strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&script, "addent -password -p %s -k %d -e %s\n%s\n", k.principal, k.kvno, mitEtypeNames[k.etype], k.password)
	}
	script.WriteString("wkt mit.keytab\nquit\n")
	runMIT(t, env, dir, script.String(), "ktutil")

	b, err := os.ReadFile(filepath.Join(dir, "mit.keytab"))
	if err != nil {
		t.Fatal(err)
	}
	kt, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) != len(keys) {
		t.Fatalf("%d entries, want %d", len(kt.Entries), len(keys))
	}
	for i, k := range keys {
		e := kt.Entries[i]
		wantType := int32(1)
		if strings.HasPrefix(k.principal, "krbtgt/") {
			wantType = 2
		}
		if e.Principal.String() != k.principal || e.Principal.NameType != wantType || e.KVNO != k.kvno || e.Key.KeyType != k.etype {
			t.Errorf("entry %d: %s type %d kvno %d etype %d; want %+v", i, e.Principal, e.Principal.NameType, e.KVNO, e.Key.KeyType, k)
			continue
		}
		want, err := StringToKey(k.etype, k.password, DefaultSalt(e.Principal))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want.KeyValue, e.Key.KeyValue) {
			t.Errorf("entry %d (%s etype %d): MIT key %x, StringToKey %x", i, k.principal, k.etype, e.Key.KeyValue, want.KeyValue)
		}
	}
}

// ourKeytab is written by this package for MIT tools to read.
func ourKeytab(t *testing.T) *Keytab {
	t.Helper()
	at := func(e Entry, sec int) Entry { e.Timestamp = testTime.Add(time.Duration(sec) * time.Second); return e }
	return &Keytab{Entries: []Entry{
		at(entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 18, fill(0xa1, 32)), 0),
		at(entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 1), 17, fill(0xa2, 16)), 1),
		at(entry(t, "krbtgt_40000@CORP.EXAMPLE.TEST", EncodeKVNO(40000, 2), 18, fill(0xa3, 32)), 2),
		at(entry(t, "krbtgt_1234@CORP.EXAMPLE.TEST", EncodeKVNO(1234, 5), 18, fill(0xb1, 32)), 3),
		at(entry(t, "krbtgt/CORP.EXAMPLE.TEST@CORP.EXAMPLE.TEST", 3, 20, fill(0xc1, 32)), 4),
		at(entry(t, "host/h.corp.example.test@CORP.EXAMPLE.TEST", 300, 19, fill(0xd1, 16)), 5),
		at(entry(t, "alice@CORP.EXAMPLE.TEST", 255, 23, fill(0xe1, 16)), 6),
		at(entry(t, "alice@CORP.EXAMPLE.TEST", 256, 23, fill(0xe2, 16)), 7),
	}}
}

var klistLine = regexp.MustCompile(`^\s*(-?\d+) (\d\d/\d\d/\d\d \d\d:\d\d:\d\d) (\S+) \(([^)]+)\)\s+\(0x([0-9a-f]+)\)$`)

// TestMITKlistReadsOurKeytab lists a keytab written by WriteFile with
// klist -k -e -t -K and compares kvnos, timestamps, principals, enctypes and
// key bytes.
func TestMITKlistReadsOurKeytab(t *testing.T) {
	env := mitEnv(t)
	path := filepath.Join(t.TempDir(), "ours.keytab")
	kt := ourKeytab(t)
	if err := kt.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	out := runMIT(t, env, "", "", "klist", "-k", "-e", "-t", "-K", path)
	var got []Entry
	for _, line := range strings.Split(out, "\n") {
		m := klistLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		kvno, err := strconv.ParseInt(m[1], 10, 32) // klist prints the kvno as a signed int
		if err != nil {
			t.Fatal(err)
		}
		ts, err := time.Parse("01/02/06 15:04:05", m[2])
		if err != nil {
			t.Fatal(err)
		}
		p := mustPrincipal(t, m[3])
		etype := etypeByMITName(t, strings.TrimPrefix(m[4], "DEPRECATED:"))
		got = append(got, Entry{Principal: p, Timestamp: ts, KVNO: uint32(int32(kvno)),
			Key: types.EncryptionKey{KeyType: etype, KeyValue: mustHex(t, m[5])}})
	}
	if !entriesEqual(got, kt.Entries) {
		t.Fatalf("klist shows:\n%s\nparsed %+v\nwant %+v", out, got, kt.Entries)
	}
}

func etypeByMITName(t *testing.T, name string) int32 {
	t.Helper()
	for id, n := range mitEtypeNames {
		if n == name {
			return id
		}
	}
	t.Fatalf("unknown enctype name %q", name)
	return 0
}

// TestMITKtutilRewritesOurKeytab has ktutil read our keytab and write it
// again: apart from the timestamps ktutil refreshes, its file is byte for
// byte what Marshal produces.
func TestMITKtutilRewritesOurKeytab(t *testing.T) {
	env := mitEnv(t)
	dir := t.TempDir()
	kt := ourKeytab(t)
	if err := kt.WriteFile(filepath.Join(dir, "ours.keytab")); err != nil {
		t.Fatal(err)
	}
	runMIT(t, env, dir, "rkt ours.keytab\nwkt theirs.keytab\nquit\n", "ktutil")
	b, err := os.ReadFile(filepath.Join(dir, "theirs.keytab"))
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(theirs.Entries) != len(kt.Entries) {
		t.Fatalf("%d entries, want %d", len(theirs.Entries), len(kt.Entries))
	}
	for i := range theirs.Entries {
		theirs.Entries[i].Timestamp = kt.Entries[i].Timestamp
	}
	again, err := theirs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ours, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, ours) {
		t.Fatalf("ktutil's rewrite differs:\n got %x\nwant %x", again, ours)
	}
}
