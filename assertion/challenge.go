package assertion

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/passkdc/passkdc/store"
)

// A sign-in's begin keeps no state: its session ID is a self-authenticating
// challenge token, sealed (XChaCha20-Poly1305: random 24-byte nonces, so
// the number of begins anyone can ask for puts no bound on the key's life)
// under a key the store holds for every
// replica (store.Tx.ServerSecret, created by the first replica that signs a
// challenge). The token carries the WebAuthn challenge, its expiry, the
// client's binding key and the principal the begin was bound to (an anchor,
// the nobody marker of an unknown name, or none), padded to one length so
// that a token tells nothing about the name it was asked for. Single use is
// enforced when the decision is recorded: the challenge is consumed
// (store.Tx.ConsumeChallenge) in the transaction of the sign counter and the
// audit record.

// loginKeyName names the store secret that seals sign-in challenges.
const loginKeyName = "login-challenge-v2"

const (
	tokenVersion   = 2
	challengeLen   = 32 // go-webauthn's challenge size
	principalField = maxUserHandle
	// tokenPlain: challenge, expiry (Unix ns), binding key, principal length, principal.
	tokenPlain = challengeLen + 8 + BindingKeySize + 1 + principalField
)

// tokenAAD binds the sealed bytes to their use.
var tokenAAD = []byte("passkdc login challenge v2")

// loginToken is the content of a sign-in challenge token.
type loginToken struct {
	challenge  []byte
	expires    time.Time
	bindingKey []byte
	principal  string // anchor, nobody marker, or "" (discoverable)
}

// tokenKey caches the sealing key once it was read from the store.
type tokenKey struct {
	mu   sync.Mutex
	aead cipher.AEAD
}

// loginAEAD returns the sealing key, reading (or creating) it in the store
// on first use; a failed read is retried on the next call.
func (r *RelyingParty) loginAEAD(ctx context.Context) (cipher.AEAD, error) {
	r.tokens.mu.Lock()
	defer r.tokens.mu.Unlock()
	if r.tokens.aead != nil {
		return r.tokens.aead, nil
	}
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, err
	}
	key, err := r.st.ServerSecret(ctx, loginKeyName, candidate)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, errors.New("stored sign-in challenge key has the wrong size")
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	r.tokens.aead = aead
	return aead, nil
}

// sealToken encodes t as the session ID a begin answers with.
func (r *RelyingParty) sealToken(ctx context.Context, t loginToken) (string, error) {
	if len(t.challenge) != challengeLen || len(t.bindingKey) != BindingKeySize || len(t.principal) > principalField {
		return "", errors.New("sign-in challenge out of range")
	}
	aead, err := r.loginAEAD(ctx)
	if err != nil {
		return "", err
	}
	plain := make([]byte, 0, tokenPlain)
	plain = append(plain, t.challenge...)
	plain = binary.BigEndian.AppendUint64(plain, uint64(t.expires.UnixNano()))
	plain = append(plain, t.bindingKey...)
	plain = append(plain, byte(len(t.principal)))
	plain = append(plain, t.principal...)
	plain = plain[:tokenPlain] // zero padding
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+tokenPlain+aead.Overhead())
	out[0] = tokenVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return "", err
	}
	out = aead.Seal(out, out[1:1+aead.NonceSize()], plain, tokenAAD)
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// errBadToken: not a token this store's key sealed.
var errBadToken = errors.New("not a sign-in challenge of this server")

// openToken decodes and authenticates a session ID made by sealToken.
func (r *RelyingParty) openToken(ctx context.Context, id string) (loginToken, error) {
	aead, err := r.loginAEAD(ctx)
	if err != nil {
		return loginToken{}, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	ns := aead.NonceSize()
	if err != nil || len(raw) != 1+ns+tokenPlain+aead.Overhead() || raw[0] != tokenVersion {
		return loginToken{}, errBadToken
	}
	plain, err := aead.Open(nil, raw[1:1+ns], raw[1+ns:], tokenAAD)
	if err != nil {
		return loginToken{}, errBadToken
	}
	t := loginToken{challenge: plain[:challengeLen]}
	rest := plain[challengeLen:]
	t.expires = time.Unix(0, int64(binary.BigEndian.Uint64(rest))).UTC()
	rest = rest[8:]
	t.bindingKey, rest = rest[:BindingKeySize], rest[BindingKeySize:]
	n := int(rest[0])
	if n > principalField {
		return loginToken{}, errBadToken
	}
	t.principal = string(rest[1 : 1+n])
	return t, nil
}

// readToken is readSession for a sign-in: it opens the token and checks its
// expiry; *burn is set once the token is authentic, so that the decision
// consumes its challenge whatever else it finds.
func (r *RelyingParty) readToken(ctx context.Context, id string, burn *bool) (loginToken, error) {
	if id == "" {
		return loginToken{}, newErr(CodeUnknownSession, "no session id", nil)
	}
	t, err := r.openToken(ctx, id)
	switch {
	case errors.Is(err, errBadToken):
		return t, newErr(CodeUnknownSession, "unknown or already used session", err)
	case err != nil:
		return t, newErr(CodeInternal, "reading the sign-in key", err)
	}
	*burn = true
	if !r.now().Before(t.expires) {
		return t, newErr(CodeSessionExpired, "session expired", nil)
	}
	return t, nil
}

// consumeChallenge is consumeIn for a sign-in challenge: of two attempts
// with one token only the first to record succeeds.
func consumeChallenge(ctx context.Context, tx store.Tx, t loginToken, now time.Time) error {
	if !now.Before(t.expires) {
		return newErr(CodeSessionExpired, "session expired", nil)
	}
	err := tx.ConsumeChallenge(ctx, t.challenge, t.expires)
	switch {
	case errors.Is(err, store.ErrExists):
		return newErr(CodeUnknownSession, "unknown or already used session", err)
	case err != nil:
		return newErr(CodeInternal, "consuming the sign-in challenge", err)
	}
	return nil
}
