package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/passkdc/passkdc/store"
)

// FuzzStringList: decStrings never panics, and encStrings/decStrings round-trip.
func FuzzStringList(f *testing.F) {
	f.Add(`["usb","nfc"]`, "internal")
	f.Add(`[]`, "")
	f.Add(`null`, "\x00\xff")
	f.Add(`["a"`, "hybrid")
	f.Add(`{"a":1}`, "é")
	f.Add(`["a,b","c"]`, `"`)
	f.Add(`[ "usb" ]`, "\\")
	f.Fuzz(func(t *testing.T, stored, elem string) {
		_, _ = decStrings(stored)
		checkPlainStrings(t, stored)
		in := []string{elem, elem + "x"}
		enc, err := encStrings(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := decStrings(enc)
		if err != nil {
			t.Fatalf("decode %q: %v", enc, err)
		}
		if !utf8.ValidString(elem) {
			return // JSON replaces invalid UTF-8
		}
		if !reflect.DeepEqual(out, in) {
			t.Fatalf("round trip %q -> %q -> %q", in, enc, out)
		}
	})
}

// checkPlainStrings: where decPlainStrings decodes s, it agrees with
// encoding/json.
func checkPlainStrings(t *testing.T, s string) {
	t.Helper()
	got, ok := decPlainStrings(s)
	if !ok {
		return
	}
	var want []string
	if err := json.Unmarshal([]byte(s), &want); err != nil {
		t.Fatalf("decPlainStrings(%q) = %q, encoding/json refuses it: %v", s, got, err)
	}
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decPlainStrings(%q) = %q, encoding/json %q", s, got, want)
	}
}

// TestPlainStrings: the fast path takes encStrings' lists and leaves
// anything else to encoding/json, which decodes it the same.
func TestPlainStrings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		fast bool
	}{
		{`[]`, true}, {`["usb"]`, true}, {`["usb","nfc","hybrid"]`, true}, {`["a b"]`, true},
		{`[""]`, true}, {`["a,b","c"]`, false}, {`["a\"b"]`, false}, {`[ "usb" ]`, false},
		{`["é"]`, false}, {`["\u0041"]`, false}, {`null`, false}, {`["a"`, false}, {`[1]`, false},
	} {
		_, ok := decPlainStrings(tc.in)
		if ok != tc.fast {
			t.Errorf("decPlainStrings(%q) fast = %v, want %v", tc.in, ok, tc.fast)
		}
		checkPlainStrings(t, tc.in)
		if _, err := decStrings(tc.in); err != nil && tc.fast {
			t.Errorf("decStrings(%q): %v", tc.in, err)
		}
	}
}

// FuzzRoundTrip stores arbitrary strings and bytes (NUL bytes, invalid UTF-8,
// SQL metacharacters) in principals, credentials and sessions and checks they
// come back unchanged and that the name look-up finds the principal.
func FuzzRoundTrip(f *testing.F) {
	f.Add("alice", []byte{0, 1, 2}, "usb", int64(0))
	f.Add("Ünal'; DROP TABLE principals; --", []byte("\x00\xff"), "", int64(-1))
	f.Add("a\x00b", []byte{}, "\xff\xfe", int64(1<<62))
	f.Add("%_\\", []byte("x"), "[\"]", int64(1700000000123456789))
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	n := 0
	f.Fuzz(func(t *testing.T, name string, data []byte, transport string, nanos int64) {
		n++
		anchor := fmt.Sprintf("fuzz-%d", n)
		at := time.Unix(0, nanos).UTC()
		p := store.Principal{Anchor: anchor, Name: name, Realm: name, DisplayName: name, DN: name,
			Expires: at, SyncedAt: at, Generation: nanos}
		if _, err := s.UpsertPrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetPrincipal(ctx, anchor)
		if err != nil || !reflect.DeepEqual(got, p) {
			t.Fatalf("principal: %+v, %v; want %+v", got, err, p)
		}
		byName, err := s.GetPrincipalByName(ctx, name, name)
		if err != nil {
			t.Fatalf("by name %q: %v", name, err)
		}
		if fold(byName.Name) != fold(name) {
			t.Fatalf("by name %q: got %q", name, byName.Name)
		}

		id := append([]byte(anchor), data...)
		c := store.Credential{ID: id, Principal: anchor, Name: name, PublicKey: data, AAGUID: data,
			Transports: []string{transport}, Profile: name, CreatedAt: at}
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
		gc, err := s.GetCredential(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gc.ID, id) || !bytes.Equal(gc.PublicKey, data) || gc.Name != name ||
			!gc.CreatedAt.Equal(at) || len(gc.Transports) != 1 ||
			(utf8.ValidString(transport) && gc.Transports[0] != transport) {
			t.Fatalf("credential: %+v, want %+v", gc, c)
		}

		se := store.Session{ID: anchor, Kind: name, Principal: name, Data: data, BindingKey: data,
			ExpiresAt: time.Unix(0, 1<<62)}
		if err := s.CreateSession(ctx, se); err != nil {
			t.Fatal(err)
		}
		gs, err := s.ConsumeSession(ctx, anchor, name, time.Unix(0, 0))
		if err != nil || gs.Kind != name || !bytes.Equal(gs.Data, data) || !bytes.Equal(gs.BindingKey, data) {
			t.Fatalf("session: %+v, %v", gs, err)
		}
	})
}
