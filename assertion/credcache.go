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
// entry was read, or written by a recorded use, while the store's
// credential marker was markers.Credentials (only uses change a credential
// while that marker stands); markers.Directory is the newest directory
// marker a read of the store returned, which the view answers a cached
// decision at. A sign-in decided on an entry is recorded only by
// UpdateCredentialUseIf with both markers and the entry's counter, which
// fails unless the store still holds exactly what the entry says and the
// directory the view answered from; the decision is then taken again on a
// fresh read. A refusal is never decided on an entry (CheckLogin). A
// directory change therefore costs one decision taken again, not the
// entries; a credential change (an enrolment, a revocation) drops them all.
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

// get returns the entry for id and the markers to decide with.
func (c *credCache) get(id []byte) (store.Credential, store.Markers, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cred, ok := c.entries[string(id)]
	return cred, c.markers, ok
}

// saw notes markers read from the store: a credential marker other than
// the entries' drops every entry; the directory marker is taken as is.
func (c *credCache) saw(m store.Markers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Credentials != c.markers.Credentials {
		clear(c.entries)
	}
	c.markers = m
}

// put files cred (as a use records it), read or recorded under markers m,
// unless the credential marker has moved since. At the bound, one entry
// makes room.
func (c *credCache) put(cred store.Credential, m store.Markers) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Credentials != c.markers.Credentials {
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

// forget drops the entry of id: a decision on it was not recorded, or
// would have refused.
func (c *credCache) forget(id []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, string(id))
}
