package conformance

import (
	"testing"
	"time"

	"github.com/passkdc/passkdc/store"
)

func credentialTests() []test {
	return []test{
		{"CreateGetList", testCredentialCreateGetList},
		{"UpdateUse", testCredentialUpdateUse},
		{"RenameRevokeDelete", testCredentialRenameRevokeDelete},
	}
}

// twoPrincipals stores principals 1 and 2 and returns their anchors.
func twoPrincipals(t *testing.T, s store.Tx) (string, string) {
	t.Helper()
	mustUpsertPrincipal(t, s, principal(1, "alice"))
	mustUpsertPrincipal(t, s, principal(2, "bob"))
	return anchor(1), anchor(2)
}

func testCredentialCreateGetList(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, bob := twoPrincipals(t, s)
	c1, c2, c3 := credential(1, alice), credential(2, alice), credential(3, bob)
	c2.LastUsedAt, c2.BackupState, c2.SignCount = base().Add(time.Hour), true, 1<<32-1
	for _, c := range []store.Credential{c3, c1, c2} {
		must(t, "create "+c.Name, s.CreateCredential(ctx, c))
	}
	got, err := s.GetCredential(ctx, c1.ID)
	must(t, "get", err)
	equal(t, "get", got, normCredential(c1))
	got, err = s.GetCredential(ctx, c2.ID)
	must(t, "get c2", err)
	equal(t, "get c2", got, normCredential(c2))

	// Minimal credential: nil slices and zero times come back as such.
	bare := store.Credential{ID: []byte("bare"), Principal: bob, PublicKey: []byte{1}}
	must(t, "create bare", s.CreateCredential(ctx, bare))
	got, err = s.GetCredential(ctx, bare.ID)
	must(t, "get bare", err)
	equal(t, "get bare", got, bare)

	dup := credential(1, bob)
	dup.Name = "duplicate"
	checkErr(t, "duplicate ID", s.CreateCredential(ctx, dup), store.ErrExists)
	got, err = s.GetCredential(ctx, c1.ID)
	must(t, "get after duplicate", err)
	equal(t, "duplicate left the original", got, normCredential(c1))
	checkErr(t, "unknown principal", s.CreateCredential(ctx, credential(9, anchor(99))), store.ErrNotFound)
	_, err = s.GetCredential(ctx, []byte("nope"))
	checkErr(t, "get unknown", err, store.ErrNotFound)
	_, err = s.GetCredential(ctx, c1.ID[:2])
	checkErr(t, "get prefix of an ID", err, store.ErrNotFound)

	cases := []struct {
		principal string
		want      []store.Credential
	}{
		{alice, []store.Credential{c1, c2}},
		{bob, []store.Credential{bare, c3}}, // bare has no CreatedAt: first
		{"", []store.Credential{bare, c1, c2, c3}},
		{anchor(99), nil},
	}
	for _, tc := range cases {
		list, err := s.ListCredentials(ctx, tc.principal)
		must(t, "list", err)
		if len(list) != len(tc.want) {
			t.Fatalf("list %q: %d credentials, want %d", tc.principal, len(list), len(tc.want))
		}
		for i := range list {
			equal(t, "list "+tc.principal, list[i], normCredential(tc.want[i]))
		}
	}
}

func testCredentialUpdateUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	c := credential(1, alice)
	must(t, "create", s.CreateCredential(ctx, c))
	at := base().Add(time.Hour)
	must(t, "update", s.UpdateCredentialUse(ctx, c.ID, 7, 8, true, at))
	c.SignCount, c.BackupState, c.LastUsedAt = 8, true, at
	got, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	equal(t, "after use", got, normCredential(c))

	// A stale counter is a conflict and changes nothing.
	checkErr(t, "stale counter", s.UpdateCredentialUse(ctx, c.ID, 7, 9, false, at.Add(time.Hour)), store.ErrConflict)
	checkErr(t, "future counter", s.UpdateCredentialUse(ctx, c.ID, 9, 10, false, at.Add(time.Hour)), store.ErrConflict)
	got, err = s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	equal(t, "after conflict", got, normCredential(c))

	checkErr(t, "unknown", s.UpdateCredentialUse(ctx, []byte("nope"), 0, 1, false, at), store.ErrNotFound)

	// Authenticators without counters stay at 0: every use matches.
	z := credential(2, alice)
	z.SignCount = 0
	must(t, "create zero", s.CreateCredential(ctx, z))
	must(t, "zero use 1", s.UpdateCredentialUse(ctx, z.ID, 0, 0, false, at))
	must(t, "zero use 2", s.UpdateCredentialUse(ctx, z.ID, 0, 0, false, at.Add(time.Second)))
	got, err = s.GetCredential(ctx, z.ID)
	must(t, "get zero", err)
	if !got.LastUsedAt.Equal(at.Add(time.Second)) {
		t.Fatalf("last use %v, want %v", got.LastUsedAt, at.Add(time.Second))
	}
}

func testCredentialRenameRevokeDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice, _ := twoPrincipals(t, s)
	c := credential(1, alice)
	must(t, "create", s.CreateCredential(ctx, c))
	unknown := []byte("nope")

	must(t, "rename", s.RenameCredential(ctx, c.ID, "Laptop ✓"))
	c.Name = "Laptop ✓"
	checkErr(t, "rename unknown", s.RenameCredential(ctx, unknown, "x"), store.ErrNotFound)

	t1 := base().Add(time.Hour)
	must(t, "revoke", s.RevokeCredential(ctx, c.ID, t1))
	must(t, "revoke again", s.RevokeCredential(ctx, c.ID, t1.Add(time.Hour)))
	c.RevokedAt = t1
	checkErr(t, "revoke unknown", s.RevokeCredential(ctx, unknown, t1), store.ErrNotFound)
	got, err := s.GetCredential(ctx, c.ID)
	must(t, "get", err)
	equal(t, "renamed and revoked (first time kept)", got, normCredential(c))
	list, err := s.ListCredentials(ctx, alice)
	must(t, "list", err)
	if len(list) != 1 || list[0].RevokedAt.IsZero() {
		t.Fatalf("revoked credential not listed as revoked: %+v", list)
	}

	must(t, "delete", s.DeleteCredential(ctx, c.ID))
	_, err = s.GetCredential(ctx, c.ID)
	checkErr(t, "get deleted", err, store.ErrNotFound)
	checkErr(t, "delete again", s.DeleteCredential(ctx, c.ID), store.ErrNotFound)
	must(t, "re-create after delete", s.CreateCredential(ctx, credential(1, alice)))
}
