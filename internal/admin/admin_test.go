package admin

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/passkdc/passkdc/server/tap"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

const realm = "CORP.EXAMPLE.TEST"

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, p := range []store.Principal{
		{Anchor: "00000000-0000-4000-8000-000000000001", Name: "alice", Realm: realm, Enabled: true, Directory: "default"},
		{Anchor: "00000000-0000-4000-8000-000000000002", Name: "gone", Realm: realm, Enabled: false, Directory: "default"},
	} {
		if _, err := st.UpsertPrincipal(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

func TestIssueTAPStoresOnlyAHashThatTheServerAccepts(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	issued, err := IssueTAP(ctx, st, realm, "Alice@corp.example.test", 2, time.Hour, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){4}$`).MatchString(issued.Pass) {
		t.Fatalf("pass %q has the wrong shape", issued.Pass)
	}
	taps, _ := st.ListTAPs(ctx, "00000000-0000-4000-8000-000000000001")
	if len(taps) != 1 || strings.Contains(string(taps[0].Hash), issued.Pass) {
		t.Fatalf("stored pass: %+v", taps)
	}
	typed := strings.ToLower(strings.ReplaceAll(issued.Pass, "-", " "))
	for i := 0; i < 2; i++ {
		if _, err := st.UseTAP(ctx, tap.Hash(typed), time.Now()); err != nil {
			t.Fatalf("use %d: %v", i, err)
		}
	}
	if _, err := st.UseTAP(ctx, tap.Hash(issued.Pass), time.Now()); !errors.Is(err, store.ErrExhausted) && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("third use: %v", err)
	}
	recs, _ := st.ListAudit(ctx, 0, 10)
	if len(recs) != 1 || recs[0].Event != "tap.issue" || strings.Contains(recs[0].Detail, issued.Pass) {
		t.Fatalf("audit: %+v", recs)
	}
}

func TestIssueTAPRefusals(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	for _, name := range []string{"gone", "nobody", "alice@OTHER.REALM"} {
		if _, err := IssueTAP(ctx, st, realm, name, 1, time.Hour, "test", time.Now()); err == nil {
			t.Fatalf("%s: pass issued", name)
		}
	}
}

func TestRevokeCredential(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	c := store.Credential{ID: []byte{1, 2, 3}, Principal: "00000000-0000-4000-8000-000000000001", PublicKey: []byte{9}, CreatedAt: time.Now()}
	if err := st.CreateCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	rows, err := ListCredentials(ctx, st, realm, "alice")
	if err != nil || len(rows) != 1 || rows[0].State != "active" || rows[0].Principal != "alice" {
		t.Fatalf("list: %v %+v", err, rows)
	}
	if err := RevokeCredential(ctx, st, rows[0].ID, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	rows, _ = ListCredentials(ctx, st, realm, "")
	if rows[0].State != "revoked" {
		t.Fatalf("after revoke: %+v", rows)
	}
	if err := RevokeCredential(ctx, st, "AAAA", "test", time.Now()); err == nil {
		t.Fatal("revoking an unknown passkey succeeded")
	}
}

func TestListAndRevokeTAPs(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	var ids []string
	for i := 0; i < 2; i++ {
		issued, err := IssueTAP(ctx, st, realm, "alice", 1, time.Hour, "helpdesk", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, issued.ID)
	}
	for _, user := range []string{"", "alice"} {
		rows, err := ListTAPs(ctx, st, realm, user)
		if err != nil || len(rows) != 2 || rows[0].Principal != "alice" || rows[0].CreatedBy != "helpdesk" {
			t.Fatalf("list %q: %v %+v", user, err, rows)
		}
	}
	if err := RevokeTAP(ctx, st, ids[0], "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	rows, _ := ListTAPs(ctx, st, realm, "")
	if len(rows) != 1 || rows[0].ID != ids[1] {
		t.Fatalf("after revoke: %+v", rows)
	}
	recs, _ := st.ListAudit(ctx, 0, 10)
	last := recs[len(recs)-1]
	if last.Event != "tap.revoke" || last.Principal != "alice" || !strings.Contains(last.Detail, ids[0]) {
		t.Fatalf("audit of the revocation: %+v", last)
	}
	err := RevokeTAP(ctx, st, ids[0], "test", time.Now())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "passkdc tap list") {
		t.Fatalf("revoking it again: %v", err)
	}
}

func TestRevokeUnknownPasskeyNamesTheFixNotTheStore(t *testing.T) {
	err := RevokeCredential(context.Background(), newStore(t), "AAAA", "test", time.Now())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "passkdc cred list") {
		t.Fatalf("unknown passkey: %v", err)
	}
	for _, internal := range []string{"sqlite", "store", "get credential"} {
		if strings.Contains(err.Error(), internal) {
			t.Errorf("message %q shows storage internals (%q)", err, internal)
		}
	}
}

// TestAdminJSONFieldsAreDocumentedSnakeCase pins the --json fields of the
// listings: scripts rely on them, and no hash or Go field name may appear.
func TestAdminJSONFieldsAreDocumentedSnakeCase(t *testing.T) {
	for name, tc := range map[string]struct {
		v    any
		want []string
	}{
		"tap list":  {TAPRow{}, []string{"created", "created_by", "expires", "id", "principal", "uses_left"}},
		"cred list": {CredentialRow{}, []string{"aaguid", "created", "id", "last_used", "name", "principal", "state", "synced"}},
		"tap issue": {IssuedTAP{}, []string{"expires", "id", "pass", "principal", "uses"}},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		got := slices.Sorted(maps.Keys(m))
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s --json fields = %v, want %v", name, got, tc.want)
		}
	}
}
