package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/passkdc/passkdc/store"
)

// data is the state of a store. Values are kept normalised (times in UTC,
// empty slices nil) and never shared with callers: they are copied in and
// out.
type data struct {
	principals map[string]store.Principal  // by anchor
	groups     map[string]store.Group      // by anchor
	memberOf   map[string][]string         // member anchor → its direct groups, sorted, no duplicates
	states     map[string]store.SyncState  // by directory
	creds      map[string]store.Credential // by string(ID)
	sessions   map[string]store.Session    // by ID
	taps       map[string]store.TAP        // by ID
	tapHashes  map[string]string           // string(hash) → pass ID
	audit      []store.AuditRecord         // in ID order
	challenges map[string]time.Time        // consumed challenge ID → kept until
	secrets    map[string][]byte           // server secrets by name
	marker     int64                       // directory change marker (store.Tx.ChangeMarker)
	credMarker int64                       // credential change marker (store.Markers.Credentials)
}

func newData() *data {
	return &data{
		principals: map[string]store.Principal{},
		groups:     map[string]store.Group{},
		memberOf:   map[string][]string{},
		states:     map[string]store.SyncState{},
		creds:      map[string]store.Credential{},
		sessions:   map[string]store.Session{},
		taps:       map[string]store.TAP{},
		tapHashes:  map[string]string{},
		challenges: map[string]time.Time{},
		secrets:    map[string][]byte{},
	}
}

// errTxDone is returned by a transaction's methods after its WithTx returned.
var errTxDone = errors.New("the transaction has ended")

// tx is one transaction: it changes the data in place and logs how to undo
// each change.
type tx struct {
	s    *Store
	d    *data
	undo []func()
	done atomic.Bool
	// marked: this transaction has moved the change marker already;
	// markedCreds: the credential change marker.
	marked, markedCreds bool
}

var _ store.Tx = (*tx)(nil)

// begin checks, at the start of each operation, that the transaction is
// still running and its caller still waits.
func (t *tx) begin(ctx context.Context, op string) error {
	if t.done.Load() {
		return fmt.Errorf("memory: %s: %w", op, errTxDone)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: %s: %w", op, err)
	}
	return nil
}

// wrote reports whether the transaction changed anything.
func (t *tx) wrote() bool { return len(t.undo) > 0 }

// rollback undoes every change, the last first.
func (t *tx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}

// markChange moves the directory change marker, once per transaction (a
// rollback moves it back: nothing was written).
func (t *tx) markChange() { t.moveMarker(&t.marked, &t.d.marker) }

// markCredentials is markChange for the credential change marker.
func (t *tx) markCredentials() { t.moveMarker(&t.markedCreds, &t.d.credMarker) }

// moveMarker moves *marker once per transaction (*moved: done already),
// undone by a rollback.
func (t *tx) moveMarker(moved *bool, marker *int64) {
	if *moved {
		return
	}
	*moved = true
	*marker++
	t.undo = append(t.undo, func() { *marker--; *moved = false })
}

// markers are the two change markers.
func (t *tx) markers() store.Markers {
	return store.Markers{Directory: t.d.marker, Credentials: t.d.credMarker}
}

// ChangeMarker returns the directory change marker.
func (t *tx) ChangeMarker(ctx context.Context) (int64, error) {
	if err := t.begin(ctx, "change marker"); err != nil {
		return 0, err
	}
	return t.d.marker, nil
}

// put sets m[k] = v in transaction t.
func put[K comparable, V any](t *tx, m map[K]V, k K, v V) {
	old, had := m[k]
	m[k] = v
	t.undo = append(t.undo, func() {
		if had {
			m[k] = old
		} else {
			delete(m, k)
		}
	})
}

// remove deletes m[k] in transaction t and reports whether it was there.
func remove[K comparable, V any](t *tx, m map[K]V, k K) bool {
	old, had := m[k]
	if !had {
		return false
	}
	delete(m, k)
	t.undo = append(t.undo, func() { m[k] = old })
	return true
}

// lookup is m[k] for operation op: ErrNotFound when there is none.
func lookup[K comparable, V any](ctx context.Context, t *tx, op string, m map[K]V, k K) (V, error) {
	var zero V
	if err := t.begin(ctx, op); err != nil {
		return zero, err
	}
	v, ok := m[k]
	if !ok {
		return zero, notFound(op)
	}
	return v, nil
}

// selectSorted lists the values of m that keep accepts, each through out (a
// copy for values holding slices), in the order of compare.
func selectSorted[K comparable, V any](m map[K]V, keep func(V) bool, out func(V) V, compare func(a, b V) int) []V {
	var list []V
	for _, v := range m {
		if keep(v) {
			list = append(list, out(v))
		}
	}
	slices.SortFunc(list, compare)
	return list
}

// same is the out of selectSorted for values without slices.
func same[V any](v V) V { return v }

// errInvalid reports an object the store cannot hold (a missing key).
func errInvalid(op, what string) error {
	return fmt.Errorf("memory: %s: %s is empty", op, what)
}

func notFound(op string) error { return fmt.Errorf("memory: %s: %w", op, store.ErrNotFound) }

func exists(op string) error { return fmt.Errorf("memory: %s: %w", op, store.ErrExists) }

// fold is the case-insensitive key of a name or realm (the SQL backends fold
// the same way).
func fold(s string) string { return strings.ToLower(s) }

// ordered is t for ordering, with a zero time ("never") as the Unix epoch:
// the SQL backends order by the stored value with NULL as 0.
func ordered(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0)
	}
	return t
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

// ---- principals

func normPrincipal(p store.Principal) store.Principal {
	p.Expires, p.SyncedAt = p.Expires.UTC(), p.SyncedAt.UTC()
	return p
}

// mirrored is what UpsertPrincipal compares to say changed: every field but
// SyncedAt and Generation (p normalised: equal instants are equal values).
func mirrored(p store.Principal) store.Principal {
	p.SyncedAt, p.Generation = time.Time{}, 0
	return p
}

// comparePrincipals orders by Name, then Anchor.
func comparePrincipals(a, b store.Principal) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Anchor, b.Anchor))
}

// UpsertPrincipal creates or replaces p; see store.Tx.
func (t *tx) UpsertPrincipal(ctx context.Context, p store.Principal) (bool, error) {
	const op = "upsert principal"
	if err := t.begin(ctx, op); err != nil {
		return false, err
	}
	if p.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	p = normPrincipal(p)
	old, had := t.d.principals[p.Anchor]
	t.markChange()
	put(t, t.d.principals, p.Anchor, p)
	return !had || mirrored(old) != mirrored(p), nil
}

// GetPrincipal returns the principal with that anchor.
func (t *tx) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return lookup(ctx, t, "get principal "+anchor, t.d.principals, anchor)
}

// LockPrincipal is GetPrincipal: the store's transactions run one at a time.
func (t *tx) LockPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return t.GetPrincipal(ctx, anchor)
}

// GetPrincipalByName finds a principal by realm and name, case-insensitively:
// of several, a non-deleted one, then the most recently synced, then the
// lowest anchor.
func (t *tx) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	op := fmt.Sprintf("get principal %s@%s", name, realm)
	if err := t.begin(ctx, op); err != nil {
		return store.Principal{}, err
	}
	realm, name = fold(realm), fold(name)
	var best store.Principal
	found := false
	for _, p := range t.d.principals {
		if fold(p.Realm) != realm || fold(p.Name) != name {
			continue
		}
		if !found || betterByName(p, best) {
			best, found = p, true
		}
	}
	if !found {
		return store.Principal{}, notFound(op)
	}
	return best, nil
}

// betterByName reports whether a wins over b among principals of one name.
func betterByName(a, b store.Principal) bool {
	if a.Deleted != b.Deleted {
		return !a.Deleted
	}
	if c := ordered(a.SyncedAt).Compare(ordered(b.SyncedAt)); c != 0 {
		return c > 0
	}
	return a.Anchor < b.Anchor
}

// ListPrincipals lists principals ordered by Name, then Anchor.
func (t *tx) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	if err := t.begin(ctx, "list principals"); err != nil {
		return nil, err
	}
	out := selectSorted(t.d.principals, func(p store.Principal) bool {
		return (f.Directory == "" || p.Directory == f.Directory) && (f.IncludeDeleted || !p.Deleted) && afterCursor(p, f)
	}, same, comparePrincipals)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// afterCursor reports whether p comes after the page cursor of f.
func afterCursor(p store.Principal, f store.PrincipalFilter) bool {
	if f.After == "" && f.AfterAnchor == "" {
		return true
	}
	return p.Name > f.After || (f.AfterAnchor != "" && p.Name == f.After && p.Anchor > f.AfterAnchor)
}

// MarkUnseenDeleted marks principals and groups of directory older than gen
// as deleted and returns how many principals it marked.
func (t *tx) MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error) {
	if err := t.begin(ctx, "mark unseen deleted"); err != nil {
		return 0, err
	}
	t.markChange()
	n := 0
	for a, p := range t.d.principals {
		if p.Directory == directory && p.Generation < gen && !p.Deleted {
			p.Deleted = true
			put(t, t.d.principals, a, p)
			n++
		}
	}
	for a, g := range t.d.groups {
		if g.Directory == directory && g.Generation < gen && !g.Deleted {
			g.Deleted = true
			put(t, t.d.groups, a, g)
		}
	}
	return n, nil
}

// ---- groups

func compareGroups(a, b store.Group) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Anchor, b.Anchor))
}

// mirroredGroup is mirrored for groups.
func mirroredGroup(g store.Group) store.Group {
	g.SyncedAt, g.Generation = time.Time{}, 0
	return g
}

// UpsertGroup creates or replaces g; see store.Tx.
func (t *tx) UpsertGroup(ctx context.Context, g store.Group) (bool, error) {
	const op = "upsert group"
	if err := t.begin(ctx, op); err != nil {
		return false, err
	}
	if g.Anchor == "" {
		return false, errInvalid(op, "anchor")
	}
	g.SyncedAt = g.SyncedAt.UTC()
	old, had := t.d.groups[g.Anchor]
	t.markChange()
	put(t, t.d.groups, g.Anchor, g)
	return !had || mirroredGroup(old) != mirroredGroup(g), nil
}

// GetGroup returns the group with that anchor.
func (t *tx) GetGroup(ctx context.Context, anchor string) (store.Group, error) {
	return lookup(ctx, t, "get group "+anchor, t.d.groups, anchor)
}

// ListGroups lists the non-deleted groups of directory ("" all), ordered by
// Name, then Anchor.
func (t *tx) ListGroups(ctx context.Context, directory string) ([]store.Group, error) {
	if err := t.begin(ctx, "list groups"); err != nil {
		return nil, err
	}
	return selectSorted(t.d.groups, func(g store.Group) bool {
		return (directory == "" || g.Directory == directory) && !g.Deleted
	}, same, compareGroups), nil
}

// SetMemberships replaces the direct groups of member.
func (t *tx) SetMemberships(ctx context.Context, member string, groups []string) error {
	const op = "set memberships"
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	if member == "" {
		return errInvalid(op, "member")
	}
	t.markChange()
	if len(groups) == 0 {
		remove(t, t.d.memberOf, member)
		return nil
	}
	gs := slices.Clone(groups)
	slices.Sort(gs)
	put(t, t.d.memberOf, member, slices.Compact(gs))
	return nil
}

// TransitiveGroups returns the stored, non-deleted groups member is in,
// directly or through such groups, ordered by Name, then Anchor. A group is
// visited once, so cycles end; the member itself is not marked visited, so a
// group in a cycle is listed among its own groups.
func (t *tx) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	if err := t.begin(ctx, "transitive groups"); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	queue := slices.Clone(t.d.memberOf[member])
	var out []store.Group
	for len(queue) > 0 {
		a := queue[0]
		queue = queue[1:]
		g, ok := t.d.groups[a]
		if seen[a] || !ok || g.Deleted {
			continue
		}
		seen[a] = true
		out = append(out, g)
		queue = append(queue, t.d.memberOf[a]...)
	}
	slices.SortFunc(out, compareGroups)
	return out, nil
}

// GroupMembers lists the direct members of group, sorted.
func (t *tx) GroupMembers(ctx context.Context, group string) ([]string, error) {
	if err := t.begin(ctx, "group members"); err != nil {
		return nil, err
	}
	var out []string
	for member, gs := range t.d.memberOf {
		if _, ok := slices.BinarySearch(gs, group); ok {
			out = append(out, member)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ---- sync state

// GetSyncState returns the sync state of directory (zero when none).
func (t *tx) GetSyncState(ctx context.Context, directory string) (store.SyncState, error) {
	if err := t.begin(ctx, "get sync state"); err != nil {
		return store.SyncState{}, err
	}
	s, ok := t.d.states[directory]
	if !ok {
		return store.SyncState{Directory: directory}, nil
	}
	return s, nil
}

// PutSyncState creates or replaces the state of s.Directory.
func (t *tx) PutSyncState(ctx context.Context, s store.SyncState) error {
	if err := t.begin(ctx, "put sync state"); err != nil {
		return err
	}
	s.LastFull, s.LastSync = s.LastFull.UTC(), s.LastSync.UTC()
	put(t, t.d.states, s.Directory, s)
	return nil
}
