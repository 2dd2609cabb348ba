// Package view keeps principals and their transitive groups in memory, so that
// a sign-in reads them without a query, and never staler than the store: what
// it holds is valid for one value of the store's directory change marker
// (store.Tx.ChangeMarker), which every write of principals, groups or
// memberships moves, on every replica sharing the store. A caller passes the
// marker it read with its own read of the store (a sign-in: with the
// credential, store.Tx.GetCredentialAndMarker); when the store's marker has
// moved past what the view holds, the view drops everything and reads again.
//
// It holds data, never policy: it answers what GetPrincipal and
// TransitiveGroups would.
package view

import (
	"context"
	"strings"
	"sync"

	"github.com/passkdc/passkdc/store"
)

// DefaultMaxEntries bounds the principals a view holds (about 400 bytes
// each; group lists are shared between principals with the same groups).
const DefaultMaxEntries = 1 << 17

// Source is the part of store.Store the view reads from.
type Source interface {
	GetPrincipal(ctx context.Context, anchor string) (store.Principal, error)
	TransitiveGroups(ctx context.Context, member string) ([]store.Group, error)
	ChangeMarker(ctx context.Context) (int64, error)
}

// View is an in-memory copy of principals and groups. It is safe for
// concurrent use.
//
// Its rule: an answer is given from memory for a marker m only when the
// view's entries are filed under m, and every entry filed under m was read
// from the store after m had been read from it: the store's directory state
// is the same whenever its marker reads m, so the entry is at least as fresh
// as the store was when the caller read m. Any other marker (higher: the
// store changed; lower: a read that began before the change, or a store put
// back from a backup) drops every entry and files what is read next under
// that marker.
type View struct {
	src Source
	max int

	mu      sync.RWMutex
	marker  int64             // the marker every entry is filed under (0 and empty at first)
	entries map[string]*entry // by principal anchor
	// groupSets shares one group list between the principals that have the
	// same groups (most users of a directory share a handful of lists).
	groupSets map[string][]store.Group
}

// entry is what the view holds of one principal: the principal, its groups,
// or both (each is read the first time it is asked for: a sign-in with the
// live directory check reads the groups from the directory).
type entry struct {
	p          store.Principal
	haveP      bool
	groups     []store.Group
	haveGroups bool
}

// New returns an empty view of src holding at most maxEntries principals
// (<= 0: DefaultMaxEntries).
func New(src Source, maxEntries int) *View {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &View{src: src, max: maxEntries, entries: map[string]*entry{}, groupSets: map[string][]store.Group{}}
}

// Marker reads the store's change marker, for a caller whose own read did not
// return it.
func (v *View) Marker(ctx context.Context) (int64, error) { return v.src.ChangeMarker(ctx) }

// Principal returns the principal with anchor as the store has it at marker m
// or later (m read from the store before the call). Errors are the store's
// (store.ErrNotFound for an unknown anchor); they are not kept.
func (v *View) Principal(ctx context.Context, anchor string, m int64) (store.Principal, error) {
	if e, ok := v.lookup(anchor, m); ok && e.haveP {
		return e.p, nil
	}
	p, err := v.src.GetPrincipal(ctx, anchor)
	if err != nil {
		return p, err
	}
	v.file(anchor, m, func(e *entry) { e.p, e.haveP = p, true })
	return p, nil
}

// Groups returns the transitive groups of member as the store has them at
// marker m or later (store.Tx.TransitiveGroups: the same order; nil for
// none). The list may be shared with other callers: it must not be modified.
func (v *View) Groups(ctx context.Context, member string, m int64) ([]store.Group, error) {
	if e, ok := v.lookup(member, m); ok && e.haveGroups {
		return e.groups, nil
	}
	gs, err := v.src.TransitiveGroups(ctx, member)
	if err != nil {
		return nil, err
	}
	v.file(member, m, func(e *entry) {
		e.groups, e.haveGroups = v.shared(gs), true
		gs = e.groups
	})
	return gs, nil
}

// lookup returns a copy of the entry of anchor when the view holds one filed
// under m.
func (v *View) lookup(anchor string, m int64) (entry, bool) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if m != v.marker {
		return entry{}, false
	}
	e := v.entries[anchor]
	if e == nil {
		return entry{}, false
	}
	return *e, true
}

// file stores what set writes into the entry of anchor, read after marker m
// was, under m: after dropping every entry when the view's marker is another.
func (v *View) file(anchor string, m int64, set func(e *entry)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if m != v.marker {
		v.marker = m
		clear(v.entries)
		clear(v.groupSets)
	}
	e := v.entries[anchor]
	if e == nil {
		if len(v.entries) >= v.max {
			for k := range v.entries { // any one: Go's map order is unspecified
				delete(v.entries, k)
				break
			}
		}
		e = &entry{}
		v.entries[anchor] = e
	}
	set(e)
}

// shared returns the list of the view equal to gs (by anchors and SIDs),
// keeping gs as that list when there is none. Called with mu held.
func (v *View) shared(gs []store.Group) []store.Group {
	if len(gs) == 0 {
		return nil
	}
	var b strings.Builder
	for _, g := range gs {
		b.WriteString(g.Anchor)
		b.WriteByte(0)
		b.WriteString(g.SID)
		b.WriteByte(0)
	}
	k := b.String()
	if have, ok := v.groupSets[k]; ok {
		return have
	}
	gs = gs[:len(gs):len(gs)] // an append by a caller copies
	v.groupSets[k] = gs
	return gs
}
