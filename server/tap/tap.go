// Package tap makes and hashes temporary access passes. Passes are random
// (100 bits), shown once, and stored only as a SHA-256 hash: with that much
// entropy a fast hash is enough, and lookups by hash need no per-pass salt.
package tap

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

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
