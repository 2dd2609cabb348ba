// Package admin holds the logic of passkdc's administrative commands (temporary
// access passes, passkeys), so it is tested without the binary. Every change is
// audited in the store.
package admin

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passkdc/passkdc/kdc/krbname"
	"github.com/passkdc/passkdc/server/tap"
	"github.com/passkdc/passkdc/store"
)

// IssuedTAP is a newly issued pass; Pass is shown once and never stored.
type IssuedTAP struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	Uses      int       `json:"uses"`
	Expires   time.Time `json:"expires"`
	Pass      string    `json:"pass"`
	// Warning says why the user could never get a ticket ("": they can).
	Warning string `json:"warning,omitempty"`
}

// IssueTAP creates a temporary access pass for the user named name.
func IssueTAP(ctx context.Context, st store.Store, realm, name string, uses int, ttl time.Duration, by string, now time.Time) (*IssuedTAP, error) {
	p, err := findPrincipal(ctx, st, realm, name)
	if err != nil {
		return nil, err
	}
	if pr := p.Problem(now); pr != "" {
		return nil, fmt.Errorf("%s: no pass issued", pr.Describe(p))
	}
	rec, pass, err := tap.Issue(p.Anchor, uses, ttl, by, now)
	if err != nil {
		return nil, err
	}
	now = rec.CreatedAt
	err = st.WithTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateTAP(ctx, rec); err != nil {
			return err
		}
		_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "tap.issue", Result: "ok", Principal: p.Name,
			Detail: fmt.Sprintf("pass %s: %d use(s), ttl %s, by %s", rec.ID, uses, ttl, by)})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store the pass: %w", err)
	}
	return &IssuedTAP{ID: rec.ID, Principal: p.Name + "@" + realm, Uses: uses, Expires: rec.ExpiresAt, Pass: pass}, nil
}

// ErrNotFound is returned (wrapped, with the ID and how to list the valid
// ones) when an administrator names a pass or a passkey that does not exist.
var ErrNotFound = errors.New("not found")

// TAPRow is a temporary access pass as listed for administrators: never the
// pass itself nor its hash.
type TAPRow struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	UsesLeft  int       `json:"uses_left"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	CreatedBy string    `json:"created_by"`
}

// ListTAPs lists the passes of the user named name ("" = every open pass).
func ListTAPs(ctx context.Context, st store.Store, realm, name string) ([]TAPRow, error) {
	anchor, err := anchorOf(ctx, st, realm, name)
	if err != nil {
		return nil, err
	}
	taps, err := st.ListTAPs(ctx, anchor)
	if err != nil {
		return nil, err
	}
	names := principalNames{st: st}
	rows := make([]TAPRow, 0, len(taps))
	for _, t := range taps {
		rows = append(rows, TAPRow{ID: t.ID, Principal: names.of(ctx, t.Principal), UsesLeft: t.UsesLeft,
			Created: t.CreatedAt, Expires: t.ExpiresAt, CreatedBy: t.CreatedBy})
	}
	return rows, nil
}

// RevokeTAP deletes the pass with this ID, so it can no longer enrol a passkey.
func RevokeTAP(ctx context.Context, st store.Store, id, by string, now time.Time) error {
	now = now.UTC()
	return st.WithTx(ctx, func(tx store.Tx) error {
		found, err := tap.Revoke(ctx, tx, id)
		if errors.Is(err, tap.ErrNotFound) {
			return fmt.Errorf("no temporary access pass with ID %q (passkdc tap list shows them): %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		name := found.Principal
		if p, err := tx.GetPrincipal(ctx, found.Principal); err == nil {
			name = p.Name
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "tap.revoke", Result: "ok", Principal: name,
			Detail: fmt.Sprintf("pass %s revoked by %s", id, by)})
		return err
	})
}

// CredentialRow is a passkey as listed for administrators.
type CredentialRow struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	Name      string    `json:"name"`
	AAGUID    string    `json:"aaguid"`
	Synced    bool      `json:"synced"`
	Created   time.Time `json:"created"`
	LastUsed  time.Time `json:"last_used"`
	State     string    `json:"state"`
}

// ListCredentials lists the passkeys of the user named name ("" = everyone).
func ListCredentials(ctx context.Context, st store.Store, realm, name string) ([]CredentialRow, error) {
	anchor, err := anchorOf(ctx, st, realm, name)
	if err != nil {
		return nil, err
	}
	creds, err := st.ListCredentials(ctx, anchor)
	if err != nil {
		return nil, err
	}
	names := principalNames{st: st}
	rows := make([]CredentialRow, 0, len(creds))
	for _, c := range creds {
		state := "active"
		if !c.RevokedAt.IsZero() {
			state = "revoked"
		}
		rows = append(rows, CredentialRow{ID: base64.RawURLEncoding.EncodeToString(c.ID), Principal: names.of(ctx, c.Principal),
			Name: c.Name, AAGUID: formatUUID(c.AAGUID), Synced: c.BackupEligible, Created: c.CreatedAt,
			LastUsed: c.LastUsedAt, State: state})
	}
	return rows, nil
}

// RevokeCredential revokes the passkey with this base64url ID.
func RevokeCredential(ctx context.Context, st store.Store, id, by string, now time.Time) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return fmt.Errorf("passkey ID %q is not base64url: %w", id, err)
	}
	now = now.UTC()
	return st.WithTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetCredential(ctx, raw)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no passkey with ID %q (passkdc cred list shows them): %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read passkey %s: %w", id, err)
		}
		if err := tx.RevokeCredential(ctx, raw, now); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "cred.revoke", Result: "ok", Principal: c.Principal,
			CredentialID: id, Detail: "revoked by " + by})
		return err
	})
}

// anchorOf resolves an optional user name to its anchor ("" stays "": everyone).
func anchorOf(ctx context.Context, st store.Store, realm, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	p, err := findPrincipal(ctx, st, realm, name)
	return p.Anchor, err
}

// principalNames maps anchors to user names for listings, reading each once;
// an anchor whose principal is gone is shown as the anchor.
type principalNames struct {
	st    store.Store
	cache map[string]string
}

func (n *principalNames) of(ctx context.Context, anchor string) string {
	if name, ok := n.cache[anchor]; ok {
		return name
	}
	if n.cache == nil {
		n.cache = map[string]string{}
	}
	name := anchor
	if p, err := n.st.GetPrincipal(ctx, anchor); err == nil {
		name = p.Name
	}
	n.cache[anchor] = name
	return name
}

// FindPrincipal finds the principal an administrator names (NAME[@REALM]).
func FindPrincipal(ctx context.Context, st store.Store, realm, name string) (store.Principal, error) {
	return findPrincipal(ctx, st, realm, name)
}

func findPrincipal(ctx context.Context, st store.Store, realm, name string) (store.Principal, error) {
	name, err := krbname.InRealm(name, realm)
	if err != nil {
		return store.Principal{}, err
	}
	p, err := st.GetPrincipalByName(ctx, realm, name)
	if errors.Is(err, store.ErrNotFound) {
		return p, fmt.Errorf("no principal %s@%s in the store: run passkdc sync first", name, realm)
	}
	return p, err
}

func formatUUID(b []byte) string {
	if len(b) != 16 {
		return "-"
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
