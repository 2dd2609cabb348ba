// Package conformance is the test suite every store.Store backend must pass
// (the dex storage/conformance pattern). A backend's test calls RunTests with a
// constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunTests(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// FinishSignIn and BenchSignInFinish are the store work of a sign-in's
// finish, the same workload for every backend's BenchmarkSignInFinish.
package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

// RunTests runs the whole suite. newStore must return a new, empty store for
// each call and arrange (t.Cleanup) for it to be closed.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Directory", directoryTests()},
		{"Credentials", credentialTests()},
		{"Sessions", sessionTests()},
		{"Challenges", challengeTests()},
		{"TAPs", tapTests()},
		{"Audit", auditTests()},
		{"Tx", txTests()},
		{"Concurrency", concurrencyTests()},
		{"ChangeMarker", markerTests()},
		{"CredentialMarker", credentialMarkerTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
			}
		})
	}
}

// test is one conformance test, run on a fresh store.
type test struct {
	name string
	run  func(t *testing.T, s store.Store)
}

// base is the reference time of the suite: nanoseconds and a non-UTC zone, to
// check that times round-trip as instants with full precision.
func base() time.Time {
	return time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
}

// anchor returns a distinct, well-formed anchor; anchors sort as n does.
func anchor(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}

// checkErr fails the test unless err is nil (want nil) or wraps want.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// must fails the test on error.
func must(t *testing.T, what string, err error) {
	t.Helper()
	checkErr(t, what, err, nil)
}

// equal fails the test unless got and want are deeply equal (callers normalise
// times to UTC first: the store returns UTC).
func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// utc is the normalisation the store applies to times.
func utc(ts ...*time.Time) {
	for _, t := range ts {
		*t = t.UTC()
	}
}

func normPrincipal(p store.Principal) store.Principal {
	utc(&p.Expires, &p.SyncedAt)
	return p
}

func normGroup(g store.Group) store.Group {
	utc(&g.SyncedAt)
	return g
}

func normCredential(c store.Credential) store.Credential {
	utc(&c.CreatedAt, &c.LastUsedAt, &c.RevokedAt)
	c.ID, c.PublicKey, c.AAGUID = nilIfEmpty(c.ID), nilIfEmpty(c.PublicKey), nilIfEmpty(c.AAGUID)
	if len(c.Transports) == 0 {
		c.Transports = nil
	}
	return c
}

func normSession(s store.Session) store.Session {
	utc(&s.CreatedAt, &s.ExpiresAt)
	s.Data, s.BindingKey = nilIfEmpty(s.Data), nilIfEmpty(s.BindingKey)
	return s
}

func normTAP(p store.TAP) store.TAP {
	utc(&p.CreatedAt, &p.ExpiresAt)
	p.Hash = nilIfEmpty(p.Hash)
	return p
}

func normSyncState(s store.SyncState) store.SyncState {
	utc(&s.LastFull, &s.LastSync)
	return s
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// anchorsOf lists the anchors of principals, in order.
func anchorsOf(ps []store.Principal) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Anchor)
	}
	return out
}

// groupNames lists the names of groups, in order.
func groupNames(gs []store.Group) []string {
	out := []string{}
	for _, g := range gs {
		out = append(out, g.Name)
	}
	return out
}

// principal returns a principal with every field set.
func principal(n int, name string) store.Principal {
	return store.Principal{
		Anchor:      anchor(n),
		Directory:   "default",
		Name:        name,
		Realm:       "CORP.EXAMPLE.TEST",
		UPN:         name + "@corp.example.test",
		SID:         fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+n),
		DN:          "CN=" + name + ",CN=Users,DC=corp,DC=example,DC=test",
		DisplayName: "User " + name,
		Enabled:     true,
		Expires:     base().Add(90 * 24 * time.Hour),
		ChangeMark:  fmt.Sprint(4000 + n),
		SyncedAt:    base(),
		Generation:  1,
	}
}

// group returns a group with every field set.
func group(a, name string) store.Group {
	return store.Group{
		Anchor:     a,
		Directory:  "default",
		Name:       name,
		DN:         "CN=" + name + ",CN=Users,DC=corp,DC=example,DC=test",
		SID:        "S-1-5-21-1-2-3-" + name,
		ChangeMark: "77",
		SyncedAt:   base(),
		Generation: 1,
	}
}

// credential returns a credential of principal with every field set; the ID
// has a zero byte and a high byte to check binary handling.
func credential(n int, principal string) store.Credential {
	return store.Credential{
		ID:              []byte{0x00, 0xff, byte(n), 0x10, byte(n >> 8)},
		Principal:       principal,
		Name:            fmt.Sprintf("key %d", n),
		PublicKey:       []byte{0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, byte(n)},
		AttestationType: "basic",
		AttestationFmt:  "packed",
		AAGUID:          []byte{0xee, 0x88, 0x28, 0x79, 0x72, 0x1c, 0x49, 0x13, 0x97, 0x75, 0x3d, 0xfc, 0xce, 0x97, 0x07, 0x2a},
		Transports:      []string{"usb", "nfc"},
		SignCount:       7,
		BackupEligible:  true,
		UserVerified:    true,
		Profile:         "default",
		CreatedAt:       base().Add(time.Duration(n) * time.Minute),
		// Odd credentials carry a verified attestation, even ones none.
		AttestationVerified:  n%2 == 1,
		AttestationStatement: map[bool]string{true: fmt.Sprintf("Test Authenticator (MDS3 blob %d)", n)}[n%2 == 1],
	}
}

// mustUpsertPrincipal stores p.
func mustUpsertPrincipal(t *testing.T, s store.Tx, p store.Principal) {
	t.Helper()
	_, err := s.UpsertPrincipal(t.Context(), p)
	must(t, "upsert principal "+p.Name, err)
}

// mustUpsertGroup stores g.
func mustUpsertGroup(t *testing.T, s store.Tx, g store.Group) {
	t.Helper()
	_, err := s.UpsertGroup(t.Context(), g)
	must(t, "upsert group "+g.Name, err)
}
