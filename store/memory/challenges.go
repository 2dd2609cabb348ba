package memory

import (
	"context"
	"time"

	"github.com/passkdc/passkdc/store"
)

// Stateless sign-in challenges and server secrets (store.Tx's
// ConsumeChallenge and ServerSecret).

// maxChallengeID is the longest challenge ID the SQL backends accept.
const maxChallengeID = 64

// ConsumeChallenge records the single use of challenge id, kept until
// expiresAt (DeleteExpiredSessions prunes it after); ErrExists when it was
// used before. A refusal writes nothing, so the transaction goes on.
func (t *tx) ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error {
	const op = "consume challenge"
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	switch {
	case len(id) == 0 || len(id) > maxChallengeID:
		return errInvalid(op, "challenge ID")
	case expiresAt.IsZero():
		return errInvalid(op, "expiry")
	}
	if _, used := t.d.challenges[string(id)]; used {
		return exists(op)
	}
	put(t, t.d.challenges, string(id), expiresAt.UTC())
	return nil
}

// deleteExpiredChallenges prunes the challenges expired
// store.ChallengeRetention before now (kept that long past their expiry for
// replicas whose clock lags).
func (t *tx) deleteExpiredChallenges(now time.Time) {
	for id, exp := range t.d.challenges {
		if !now.Before(exp.Add(store.ChallengeRetention)) {
			remove(t, t.d.challenges, id)
		}
	}
}

// ServerSecret returns the secret stored under name, storing candidate first
// when there is none.
func (t *tx) ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	const op = "server secret"
	if err := t.begin(ctx, op); err != nil {
		return nil, err
	}
	if name == "" || len(candidate) == 0 {
		return nil, errInvalid(op, "name or secret")
	}
	secret, ok := t.d.secrets[name]
	if !ok {
		secret = cloneBytes(candidate)
		put(t, t.d.secrets, name, secret)
	}
	return cloneBytes(secret), nil
}

// ConsumeChallenge records the single use of a challenge.
func (s *Store) ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error {
	return s.run(ctx, false, func(t *tx) error { return t.ConsumeChallenge(ctx, id, expiresAt) })
}

// ServerSecret returns (storing candidate first when none is) the secret under name.
func (s *Store) ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	return call(ctx, s, func(t *tx) ([]byte, error) { return t.ServerSecret(ctx, name, candidate) })
}
