package rodc

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
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
		{"no host", HTTPServiceOptions{Keytab: path}, "--host"},
		{"host without domain", HTTPServiceOptions{Host: "passkdc", Keytab: path}, "--host"},
		{"host with port", HTTPServiceOptions{Host: "passkdc.corp.example.test:443", Keytab: path}, "--host"},
		{"no keytab", HTTPServiceOptions{Host: "a.b"}, "--keytab"},
		{"bad account", HTTPServiceOptions{Account: "no_underscores", Host: "a.b", Keytab: path}, ""},
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
		_, err := ProvisionHTTPService(ctx, d, HTTPServiceOptions{Host: "a.b", Keytab: path})
		if !errors.Is(err, ErrExists) {
			t.Fatalf("err %v, want ErrExists", err)
		}
	})
}
