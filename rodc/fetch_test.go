package rodc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/rodc/drsr"
)

func key(etype int32, b byte, n int) drsr.Key {
	return drsr.Key{EType: etype, Value: bytes.Repeat([]byte{b}, n)}
}

// fakeFetch answers with stored, remembering the request; err fails it.
type fakeFetch struct {
	stored *drsr.StoredKeys
	err    error
	got    []drsr.Request
}

func (f *fakeFetch) fetch(_ context.Context, r drsr.Request) (*drsr.StoredKeys, error) {
	f.got = append(f.got, r)
	return f.stored, f.err
}

func stored() *drsr.StoredKeys {
	return &drsr.StoredKeys{
		Current:  []drsr.Key{key(drsr.ETypeAES256, 1, 32), key(drsr.ETypeAES128, 2, 16), key(23, 3, 16)},
		Previous: []drsr.Key{key(drsr.ETypeAES256, 4, 32)},
	}
}

func TestFetchKeyWritesCurrentAndPreviousAtTheirKVNO(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	provisionOK(t, d, RODCOptions{Name: testName})
	if _, err := Rotate(ctx, d, testName, ""); err != nil { // key version 2: a previous version exists
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "krbtgt.keytab")
	ff := &fakeFetch{stored: stored()}
	got, err := FetchKey(ctx, d, ff.fetch, FetchKeyOptions{Name: testName, DRS: drsr.Request{Server: "dc1", User: "u@R"}, Keytab: path})
	if err != nil {
		t.Fatal(err)
	}
	if len(ff.got) != 1 || ff.got[0].ObjectGUID == "" || ff.got[0].ObjectDN != firstKrbtgt || ff.got[0].Server != "dc1" {
		t.Fatalf("fetch request %+v", ff.got)
	}
	if got.Principal.String() != "krbtgt_4243@CORP.EXAMPLE.TEST" || got.Added != 3 {
		t.Fatalf("fetched %s, added %d", got.Principal, got.Added)
	}
	kt, err := keytabs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[[2]uint32]byte{
		{keytabs.EncodeKVNO(firstNumber, 2), 18}: 1,
		{keytabs.EncodeKVNO(firstNumber, 2), 17}: 2,
		{keytabs.EncodeKVNO(firstNumber, 1), 18}: 4,
	}
	if len(kt.Entries) != len(want) {
		t.Fatalf("%d entries, want %d (RC4 dropped)", len(kt.Entries), len(want))
	}
	for _, e := range kt.Entries {
		if b, ok := want[[2]uint32{e.KVNO, uint32(e.Key.KeyType)}]; !ok || e.Key.KeyValue[0] != b {
			t.Errorf("unexpected entry kvno %#x etype %d", e.KVNO, e.Key.KeyType)
		}
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("keytab mode: %v %v", st.Mode(), err)
	}
}

func TestFetchKeyFailuresLeaveTheKeytabUntouched(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	provisionOK(t, d, RODCOptions{Name: testName})
	dir := t.TempDir()
	path := filepath.Join(dir, "krbtgt.keytab")
	// An existing entry at the same kvno and etype with another key.
	old := &keytabs.Keytab{Entries: []keytabs.Entry{{Principal: keytabs.NewPrincipal("CORP.EXAMPLE.TEST", "krbtgt_4243"),
		KVNO: keytabs.EncodeKVNO(firstNumber, 1), Key: types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{9}, 32)}}}}
	if err := old.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	cases := []struct {
		name string
		ff   *fakeFetch
		opts FetchKeyOptions
		want error
	}{
		{"DC refuses", &fakeFetch{err: drsr.ErrAccessDenied}, FetchKeyOptions{Name: testName}, drsr.ErrAccessDenied},
		{"no AES keys", &fakeFetch{stored: &drsr.StoredKeys{Current: []drsr.Key{key(23, 1, 16)}}}, FetchKeyOptions{Name: testName}, drsr.ErrNoKeys},
		{"other key at the same kvno", &fakeFetch{stored: stored()}, FetchKeyOptions{Name: testName}, keytabs.ErrKeyConflict},
		{"no such RODC", &fakeFetch{stored: stored()}, FetchKeyOptions{Name: "NOSUCH"}, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Keytab = path
			if _, err := FetchKey(ctx, d, c.ff.fetch, c.opts); !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Fatal("keytab changed")
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 1 {
				t.Fatalf("left files behind: %v", matches)
			}
		})
	}
}

func TestRotateAndFetch(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	provisionOK(t, d, RODCOptions{Name: testName})
	path := filepath.Join(t.TempDir(), "krbtgt.keytab")
	ff := &fakeFetch{err: drsr.ErrUnreachable}
	if _, err := RotateAndFetch(ctx, d, ff.fetch, FetchKeyOptions{Name: testName, Keytab: path}); !errors.Is(err, ErrFetchAfterRotate) || !errors.Is(err, drsr.ErrUnreachable) {
		t.Fatalf("fetch failure after the reset: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("keytab written although the fetch failed")
	}
	ff = &fakeFetch{stored: stored()}
	got, err := RotateAndFetch(ctx, d, ff.fetch, FetchKeyOptions{Name: testName, Keytab: path})
	if err != nil || got.RODC.KeyVersion != 3 || got.Keys[0].KVNO != keytabs.EncodeKVNO(firstNumber, 3) {
		t.Fatalf("RotateAndFetch: %+v, %v", got, err)
	}
}

func TestRealmFromBaseDN(t *testing.T) {
	for in, want := range map[string]string{
		"DC=corp,DC=example,DC=test":    "CORP.EXAMPLE.TEST",
		"dc=Corp, dc=Example":           "CORP.EXAMPLE",
		"OU=x,DC=corp,DC=test":          "CORP.TEST",
		"":                              "",
		"CN=Users,DC=a":                 "A",
		"DC=corp,DC=example,DC=test ":   "CORP.EXAMPLE.TEST",
		"DC = corp , DC = example.test": "CORP.EXAMPLE.TEST",
	} {
		if got := RealmFromBaseDN(in); got != want {
			t.Errorf("RealmFromBaseDN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAccountName(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	upnDN := "CN=svc,CN=Users," + fakeBase
	d.put(upnDN, map[string][]string{"objectclass": {"user"}, "samaccountname": {"svc"}, "userprincipalname": {"svc-passkdc@corp.example.test"}})
	samDN := "CN=Administrator,CN=Users," + fakeBase
	d.put(samDN, map[string][]string{"objectclass": {"user"}, "samaccountname": {"Administrator"}})
	for dn, want := range map[string]string{upnDN: "svc-passkdc@corp.example.test", samDN: "Administrator@CORP.EXAMPLE.TEST"} {
		if got, err := AccountName(ctx, d, dn); err != nil || got != want {
			t.Errorf("AccountName(%s) = %q, %v; want %q", dn, got, err, want)
		}
	}
	if _, err := AccountName(ctx, d, "CN=Nobody,CN=Users,"+fakeBase); !errors.Is(err, ErrNotFound) {
		t.Errorf("AccountName of a missing entry: %v", err)
	}
}
