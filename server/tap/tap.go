// Package tap makes and hashes temporary access passes. Passes are random
// (100 bits), shown once, and stored only as a SHA-256 hash: with that much
// entropy a fast hash is enough, and lookups by hash need no per-pass salt.
package tap

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passkdc/passkdc/store"
)

// Bounds of a pass: how many enrolments it allows and how long it lives.
const (
	MinUses = 1
	MaxUses = 100
	MinTTL  = time.Minute
	MaxTTL  = 30 * 24 * time.Hour
)

// ErrNotFound is returned (wrapped) by Revoke for a pass that does not exist.
var ErrNotFound = errors.New("no such temporary access pass")

// groups of 4 base32 (RFC 4648) characters: 20 characters, 100 bits.
const groups = 5

// New makes a pass like "K7QF-2MXA-9DPL-HWZC-4RTE": easy to read out and type.
func New() (string, error) {
	b := make([]byte, 13)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:4*groups]
	parts := make([]string, groups)
	for i := range parts {
		parts[i] = enc[4*i : 4*i+4]
	}
	return strings.Join(parts, "-"), nil
}

// Hash is how a pass is stored and looked up. It ignores dashes, spaces and
// case, so a pass typed loosely still matches.
func Hash(pass string) []byte {
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(pass)))
	h := sha256.Sum256([]byte(norm))
	return h[:]
}

// Issue makes a new pass for the principal with this anchor and its store
// record (ID, hash, uses, expiry, issuer); the caller creates the record,
// with its audit record, in one transaction. The pass is returned once.
func Issue(anchor string, uses int, ttl time.Duration, by string, now time.Time) (store.TAP, string, error) {
	if uses < MinUses || uses > MaxUses {
		return store.TAP{}, "", fmt.Errorf("a pass allows %d to %d uses, not %d", MinUses, MaxUses, uses)
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return store.TAP{}, "", fmt.Errorf("a pass lives %s to %s, not %s", MinTTL, MaxTTL, ttl)
	}
	pass, err := New()
	if err != nil {
		return store.TAP{}, "", err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return store.TAP{}, "", err
	}
	now = now.UTC()
	return store.TAP{ID: hex.EncodeToString(idb), Principal: anchor, Hash: Hash(pass), UsesLeft: uses,
		CreatedAt: now, ExpiresAt: now.Add(ttl), CreatedBy: by}, pass, nil
}

// Find returns the open pass with this ID, read in tx (wrapping ErrNotFound
// when there is none).
func Find(ctx context.Context, tx store.Tx, id string) (store.TAP, error) {
	taps, err := tx.ListTAPs(ctx, "")
	if err != nil {
		return store.TAP{}, err
	}
	for _, t := range taps {
		if t.ID == id {
			return t, nil
		}
	}
	return store.TAP{}, fmt.Errorf("pass %q: %w", id, ErrNotFound)
}

// Revoke deletes the pass with this ID in tx, so it can no longer enrol a
// passkey or open a page session, and returns what it was.
func Revoke(ctx context.Context, tx store.Tx, id string) (store.TAP, error) {
	t, err := Find(ctx, tx, id)
	if err != nil {
		return t, err
	}
	return t, tx.DeleteTAP(ctx, id)
}
