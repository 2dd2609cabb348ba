package assertion

import (
	"errors"
	"sync"

	"github.com/passkdc/passkdc/store"
)

// ErrStale is what PendingLogin.Record returns, having written nothing,
// when the sign-in was decided on a cached copy of the credential
// (PendingLogin.Cached) and the store no longer matches it: the counter,
// the credential or the directory changed since the copy was read. The
// caller rolls its transaction back and decides again with CheckLoginFresh.
var ErrStale = errors.New("the sign-in was decided on a copy the store no longer matches")

// maxCachedCredentials bounds the credentials a relying party keeps (about
// 500 bytes each).
const maxCachedCredentials = 1 << 16

// credCache keeps the credentials of recent successful sign-ins, so that the
// next sign-in with one is decided without reading it. Its rule: every
// entry was read, or written by a recorded use, while the store's markers
// were markers; a sign-in decided on an entry is recorded only by
// UpdateCredentialUseIf with those markers and the entry's counter, which
// fails unless the store still holds exactly what the entry says (and the
// directory the view answered from) — the decision is then taken again on a
// fresh read. A refusal is never decided on an entry (CheckLogin).
//
// It is safe for concurrent use.
type credCache struct {
	mu      sync.Mutex
	markers store.Markers
	entries map[string]store.Credential // by credential ID
}

func newCredCache() *credCache {
	return &credCache{entries: map[string]store.Credential{}}
}

// get returns the entry for id and the markers it is valid for.
func (c *credCache) get(id []byte) (store.Credential, store.Markers, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cred, ok := c.entries[string(id)]
	return cred, c.markers, ok
}

// saw notes markers read from the store: when they differ from the
// entries', every entry is dropped and the cache fills again under them.
func (c *credCache) saw(m store.Markers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.adopt(m)
}

// adopt is saw with c.mu held.
func (c *credCache) adopt(m store.Markers) {
	if m != c.markers {
		clear(c.entries)
		c.markers = m
	}
}

// put files cred (as a use records it) under markers m, unless the cache
// has moved to other markers since. At the bound, one entry makes room.
func (c *credCache) put(cred store.Credential, m store.Markers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m != c.markers {
		return
	}
	if _, ok := c.entries[string(cred.ID)]; !ok && len(c.entries) >= maxCachedCredentials {
		for id := range c.entries {
			delete(c.entries, id)
			break
		}
	}
	c.entries[string(cred.ID)] = cred
}

// drop forgets every entry: the store moved past the markers they were
// filed under (a use decided on one of them was not recorded).
func (c *credCache) drop(m store.Markers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m == c.markers {
		clear(c.entries)
		c.markers = store.Markers{Directory: -1, Credentials: -1}
	}
}
