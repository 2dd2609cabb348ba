// Package admin holds the logic of passkdc's administrative commands (temporary
// access passes, passkeys), so it is tested without the binary. Every change is
// audited in the store.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passkdc/passkdc/internal/tap"
	"github.com/passkdc/passkdc/store"
)

// IssuedTAP is a newly issued pass; Pass is shown once and never stored.
type IssuedTAP struct {
	ID        string    `json:"id"`
	Principal string    `json:"principal"`
	Uses      int       `json:"uses"`
	Expires   time.Time `json:"expires"`
	Pass      string    `json:"pass"`
}

// IssueTAP creates a temporary access pass for the user named name.
func IssueTAP(ctx context.Context, st store.Store, realm, name string, uses int, ttl time.Duration, by string) (*IssuedTAP, error) {
	p, err := findPrincipal(ctx, st, realm, name)
	if err != nil {
		return nil, err
	}
	if p.Deleted || !p.Enabled {
		return nil, fmt.Errorf("%s is disabled or deleted in the directory: no pass issued", p.Name)
	}
	pass, err := tap.New()
	if err != nil {
		return nil, err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	rec := store.TAP{ID: hex.EncodeToString(idb), Principal: p.Anchor, Hash: tap.Hash(pass), UsesLeft: uses,
		CreatedAt: now, ExpiresAt: now.Add(ttl), CreatedBy: by}
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

// ListTAPs lists the user's passes.
func ListTAPs(ctx context.Context, st store.Store, realm, name string) ([]store.TAP, error) {
	p, err := findPrincipal(ctx, st, realm, name)
	if err != nil {
		return nil, err
	}
	return st.ListTAPs(ctx, p.Anchor)
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
	anchor := ""
	if name != "" {
		p, err := findPrincipal(ctx, st, realm, name)
		if err != nil {
			return nil, err
		}
		anchor = p.Anchor
	}
	creds, err := st.ListCredentials(ctx, anchor)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	rows := make([]CredentialRow, 0, len(creds))
	for _, c := range creds {
		if _, ok := names[c.Principal]; !ok {
			if p, err := st.GetPrincipal(ctx, c.Principal); err == nil {
				names[c.Principal] = p.Name
			} else {
				names[c.Principal] = c.Principal
			}
		}
		state := "active"
		if !c.RevokedAt.IsZero() {
			state = "revoked"
		}
		rows = append(rows, CredentialRow{ID: base64.RawURLEncoding.EncodeToString(c.ID), Principal: names[c.Principal],
			Name: c.Name, AAGUID: formatUUID(c.AAGUID), Synced: c.BackupEligible, Created: c.CreatedAt,
			LastUsed: c.LastUsedAt, State: state})
	}
	return rows, nil
}

// RevokeCredential revokes the passkey with this base64url ID.
func RevokeCredential(ctx context.Context, st store.Store, id, by string) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(id, "="))
	if err != nil {
		return fmt.Errorf("passkey ID %q is not base64url: %w", id, err)
	}
	now := time.Now().UTC()
	return st.WithTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetCredential(ctx, raw)
		if err != nil {
			return fmt.Errorf("passkey %s: %w", id, err)
		}
		if err := tx.RevokeCredential(ctx, raw, now); err != nil {
			return err
		}
		_, err = tx.AppendAudit(ctx, store.AuditRecord{Time: now, Event: "cred.revoke", Result: "ok", Principal: c.Principal,
			CredentialID: id, Detail: "revoked by " + by})
		return err
	})
}

func findPrincipal(ctx context.Context, st store.Store, realm, name string) (store.Principal, error) {
	if i := strings.LastIndexByte(name, '@'); i >= 0 {
		if !strings.EqualFold(name[i+1:], realm) {
			return store.Principal{}, fmt.Errorf("%s is not in realm %s", name, realm)
		}
		name = name[:i]
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
