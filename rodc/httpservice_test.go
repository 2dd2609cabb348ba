package rodc

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/passkdc/passkdc/keytabs"
)

// storedPassword decodes the fake's unicodePwd of dn (quoted UTF-16LE).
func storedPassword(t *testing.T, d *fakeDir, dn string) string {
	t.Helper()
	e := d.get(dn)
	if e == nil || len(e.attrs["unicodepwd"]) != 1 {
		t.Fatalf("%s has no unicodePwd", dn)
	}
	b := []byte(e.attrs["unicodepwd"][0])
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return strings.Trim(string(utf16.Decode(u)), `"`)
}

func TestProvisionHTTPServiceKeysMatchThePasswordSet(t *testing.T) {
	d := newFakeDir()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "http.keytab")
	o := HTTPServiceOptions{RODCName: "PASSKDC", Host: "Passkdc.Corp.Example.Test.", Keytab: path}
	h, err := ProvisionHTTPService(ctx, d, o)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Created || h.SPN != "HTTP/passkdc.corp.example.test" || h.Account != "PASSKDC-WEB$" || h.KVNO != 1 {
		t.Fatalf("%+v", h)
	}
	e := d.get(h.DN)
	if got := e.attrs["msds-supportedencryptiontypes"]; len(got) != 1 || got[0] != "24" {
		t.Fatalf("encryption types %v, want AES only (24)", got)
	}
	check := func(wantVersions int) {
		t.Helper()
		kt, err := keytabs.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := kt.KeySet(h.Principal)
		if err != nil || len(ks.Versions()) != wantVersions {
			t.Fatalf("versions %v (%v), want %d", ks.Versions(), err, wantVersions)
		}
		pw := storedPassword(t, d, h.DN)
		for _, et := range []int32{17, 18} {
			got, err := ks.Current(et)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := keytabs.StringToKey(et, pw, keytabs.ADComputerSalt("CORP.EXAMPLE.TEST", "PASSKDC-WEB$"))
			if !bytes.Equal(got.Key.KeyValue, want.KeyValue) {
				t.Fatalf("etype %d: the keytab's key %x is not %x, the one of the password %q set on the account", et, got.Key.KeyValue, want.KeyValue, pw)
			}
		}
	}
	check(1)
	for i := 2; i <= 3; i++ {
		if h, err = ProvisionHTTPService(ctx, d, o); err != nil || h.Created || h.KVNO != uint32(i) {
			t.Fatalf("run %d: %+v %v", i, h, err)
		}
	}
	check(2) // the previous version stays for tickets issued under it; older ones go
}

func TestProvisionHTTPServiceRefusals(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "k")
	for _, tc := range []struct {
		name string
		o    HTTPServiceOptions
		want string
	}{
		{"the RODC itself", HTTPServiceOptions{Account: "passkdc", RODCName: "PASSKDC", Host: "a.b", Keytab: path}, "must not be the RODC"},
		{"no RODC name", HTTPServiceOptions{Host: "a.b", Keytab: path}, "RODC name"},
		{"no host", HTTPServiceOptions{RODCName: "PASSKDC", Keytab: path}, "--host"},
		{"host without domain", HTTPServiceOptions{RODCName: "PASSKDC", Host: "passkdc", Keytab: path}, "--host"},
		{"host with port", HTTPServiceOptions{RODCName: "PASSKDC", Host: "passkdc.corp.example.test:443", Keytab: path}, "--host"},
		{"no keytab", HTTPServiceOptions{RODCName: "PASSKDC", Host: "a.b"}, "--keytab"},
		{"bad account", HTTPServiceOptions{Account: "no_underscores", RODCName: "PASSKDC", Host: "a.b", Keytab: path}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDir()
			_, err := ProvisionHTTPService(ctx, d, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if len(d.writes) != 0 {
				t.Fatalf("wrote %v", d.writes)
			}
		})
	}
	t.Run("a non-computer entry at the DN", func(t *testing.T) {
		d := newFakeDir()
		d.put("CN=PASSKDC-WEB,CN=Computers,"+fakeBase, map[string][]string{"objectclass": {"top", "container"}})
		_, err := ProvisionHTTPService(ctx, d, HTTPServiceOptions{RODCName: "PASSKDC", Host: "a.b", Keytab: path})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("err %v, want ErrExists", err)
		}
	})
}

// Remove deletes the HTTP service accounts made for its RODC first, and
// only those; an account of another RODC is neither removed nor re-keyed
// for this one.
func TestRemoveDeletesTheRODCsHTTPServiceAccounts(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	dir := t.TempDir()
	provisionOK(t, d, RODCOptions{Name: testName})
	provisionOK(t, d, RODCOptions{Name: "OTHER"})
	mine := HTTPServiceOptions{RODCName: testName, Host: "passkdc.corp.example.test", Keytab: filepath.Join(dir, "a")}
	h, err := ProvisionHTTPService(ctx, d, mine)
	if err != nil {
		t.Fatal(err)
	}
	theirs := HTTPServiceOptions{Account: "OTHER-WEB", RODCName: "OTHER", Host: "other.corp.example.test", Keytab: filepath.Join(dir, "b")}
	o, err := ProvisionHTTPService(ctx, d, theirs)
	if err != nil {
		t.Fatal(err)
	}
	steal := theirs
	steal.RODCName = testName
	if _, err := ProvisionHTTPService(ctx, d, steal); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "another RODC") {
		t.Fatalf("http-spn on OTHER's account for %s: %v, want ErrExists", testName, err)
	}
	d.writes = nil
	r, err := Remove(ctx, d, testName, "")
	if err != nil {
		t.Fatal(err)
	}
	if !r.RODC || len(r.HTTPServices) != 1 || r.HTTPServices[0].DN != h.DN || !slices.Equal(r.HTTPServices[0].SPNs, []string{h.SPN}) {
		t.Fatalf("Remove = %+v", r)
	}
	if len(d.writes) == 0 || d.writes[0] != "delete "+h.DN || d.get(h.DN) != nil {
		t.Fatalf("writes %q: want the HTTP service account deleted first", d.writes)
	}
	if d.get(o.DN) == nil {
		t.Fatal("OTHER's HTTP service account was deleted")
	}
	if _, err := Remove(ctx, d, testName, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove = %v, want ErrNotFound", err)
	}

	// A refused delete of the HTTP account leaves the RODC, names the fix,
	// and a second run finishes the job.
	provisionOK(t, d, RODCOptions{Name: testName})
	if _, err := ProvisionHTTPService(ctx, d, mine); err != nil {
		t.Fatal(err)
	}
	d.hook = failOn("delete", "PASSKDC-WEB", 50)
	if _, err := Remove(ctx, d, testName, ""); err == nil || !strings.Contains(err.Error(), "--bind-dn") || !strings.Contains(err.Error(), h.SPN) {
		t.Fatalf("Remove with the HTTP delete refused: %v", err)
	}
	if _, err := Show(ctx, d, testName, ""); err != nil {
		t.Fatalf("the RODC is gone after a failed Remove: %v", err)
	}
	d.hook = nil
	if r, err := Remove(ctx, d, testName, ""); err != nil || !r.RODC || len(r.HTTPServices) != 1 {
		t.Fatalf("Remove again = %+v, %v", r, err)
	}
}

func TestFindSPNReadsTheKeyVersionAndEncryptionTypes(t *testing.T) {
	ctx := context.Background()
	d := newFakeDir()
	h, err := ProvisionHTTPService(ctx, d, HTTPServiceOptions{RODCName: testName, Host: "passkdc.corp.example.test",
		Keytab: filepath.Join(t.TempDir(), "k")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := FindSPN(ctx, d, h.SPN, "")
	if err != nil || len(got) != 1 || got[0].KVNO != h.KVNO || !got[0].HasAES() || got[0].Account != h.Account {
		t.Fatalf("FindSPN = %+v, %v (provisioned %+v)", got, err, h)
	}
	if none, err := FindSPN(ctx, d, "HTTP/nothing.corp.example.test", ""); err != nil || len(none) != 0 {
		t.Fatalf("FindSPN of an unknown SPN = %+v, %v", none, err)
	}
}
