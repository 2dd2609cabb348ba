package assertion

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/passkdc/passkdc/store"
)

// memStore is a small in-memory store.Store with the semantics of the
// interface's doc comments, for the methods this package uses. Others panic
// through the nil embedded interface.
type memStore struct {
	store.Store
	mu         sync.Mutex
	princ      map[string]store.Principal
	groups     map[string][]store.Group // member anchor -> transitive groups
	creds      map[string]store.Credential
	sessions   map[string]store.Session
	challenges map[string]bool
	secrets    map[string][]byte
}

func newMemStore() *memStore {
	return &memStore{princ: map[string]store.Principal{}, groups: map[string][]store.Group{},
		creds: map[string]store.Credential{}, sessions: map[string]store.Session{}}
}

func cloneCred(c store.Credential) store.Credential {
	c.ID = append([]byte(nil), c.ID...)
	c.PublicKey = append([]byte(nil), c.PublicKey...)
	c.AAGUID = append([]byte(nil), c.AAGUID...)
	c.Transports = append([]string(nil), c.Transports...)
	return c
}

func (m *memStore) UpsertPrincipal(_ context.Context, p store.Principal) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.princ[p.Anchor] = p
	return true, nil
}

func (m *memStore) GetPrincipal(_ context.Context, anchor string) (store.Principal, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.princ[anchor]
	if !ok {
		return p, store.ErrNotFound
	}
	return p, nil
}

func (m *memStore) TransitiveGroups(_ context.Context, member string) ([]store.Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]store.Group(nil), m.groups[member]...), nil
}

func (m *memStore) CreateCredential(_ context.Context, c store.Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.creds[string(c.ID)]; ok {
		return store.ErrExists
	}
	m.creds[string(c.ID)] = cloneCred(c)
	return nil
}

func (m *memStore) GetCredential(_ context.Context, id []byte) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return c, store.ErrNotFound
	}
	return cloneCred(c), nil
}

func (m *memStore) ListCredentials(_ context.Context, principal string) ([]store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Credential
	for _, c := range m.creds {
		if principal == "" || c.Principal == principal {
			out = append(out, cloneCred(c))
		}
	}
	return out, nil
}

func (m *memStore) UpdateCredentialUse(_ context.Context, id []byte, oldCount, newCount uint32, bs bool, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return store.ErrNotFound
	}
	if c.SignCount != oldCount {
		return store.ErrConflict
	}
	c.SignCount, c.BackupState, c.LastUsedAt = newCount, bs, at
	m.creds[string(id)] = c
	return nil
}

func (m *memStore) RevokeCredential(_ context.Context, id []byte, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[string(id)]
	if !ok {
		return store.ErrNotFound
	}
	c.RevokedAt = at
	m.creds[string(id)] = c
	return nil
}

func (m *memStore) CreateSession(_ context.Context, s store.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return store.ErrExists
	}
	m.sessions[s.ID] = s
	return nil
}

func (m *memStore) ConsumeSession(_ context.Context, id, kind string, now time.Time) (store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !strings.EqualFold(s.Kind, kind) {
		return store.Session{}, store.ErrNotFound
	}
	delete(m.sessions, id)
	if !now.Before(s.ExpiresAt) {
		return store.Session{}, store.ErrExpired
	}
	return s, nil
}

func (m *memStore) GetSession(_ context.Context, id, kind string) (store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok || !strings.EqualFold(s.Kind, kind) {
		return store.Session{}, store.ErrNotFound
	}
	return s, nil
}

func (m *memStore) ConsumeChallenge(_ context.Context, id []byte, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.challenges == nil {
		m.challenges = map[string]bool{}
	}
	if m.challenges[string(id)] {
		return store.ErrExists
	}
	m.challenges[string(id)] = true
	return nil
}

func (m *memStore) ServerSecret(_ context.Context, name string, candidate []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secrets == nil {
		m.secrets = map[string][]byte{}
	}
	if _, ok := m.secrets[name]; !ok {
		m.secrets[name] = candidate
	}
	return m.secrets[name], nil
}

// WithTx runs fn on the store itself: each operation is atomic, the whole is
// not rolled back when fn fails (the tests that need rollback use SQLite).
func (m *memStore) WithTx(_ context.Context, fn func(store.Tx) error) error { return fn(m) }
