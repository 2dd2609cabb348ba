package ldapsync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/passkdc/passkdc/store"
)

// memStore is an in-memory store.Store with the directory-mirror methods and
// the optional GroupMemberLister, for tests. WithTx works on a copy that
// replaces the state only when fn succeeds. Other methods panic (nil Tx).
type memStore struct {
	store.Tx // nil: unimplemented methods panic
	mu       sync.Mutex
	d        *memData
	gen      int64
	writes   int // committed transactions
}

type memData struct {
	principals map[string]store.Principal
	groups     map[string]store.Group
	members    map[string][]string // member → direct groups
	states     map[string]store.SyncState
	audit      []store.AuditRecord
}

func newMemStore() *memStore {
	return &memStore{d: &memData{
		principals: map[string]store.Principal{}, groups: map[string]store.Group{},
		members: map[string][]string{}, states: map[string]store.SyncState{},
	}}
}

func (d *memData) clone() *memData {
	c := &memData{
		principals: maps.Clone(d.principals), groups: maps.Clone(d.groups),
		members: map[string][]string{}, states: maps.Clone(d.states), audit: slices.Clone(d.audit),
	}
	for k, v := range d.members {
		c.members[k] = slices.Clone(v)
	}
	return c
}

type memTx struct {
	store.Tx
	d *memData
}

func (m *memStore) cur() *memTx {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memTx{d: m.d.clone()}
}

func (m *memStore) WithTx(ctx context.Context, fn func(store.Tx) error) error {
	tx := m.cur()
	if err := fn(tx); err != nil {
		return err
	}
	m.mu.Lock()
	m.d = tx.d
	m.writes++
	m.mu.Unlock()
	return nil
}

func (m *memStore) NextGeneration(context.Context, string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for _, s := range m.d.states {
		if s.Generation >= m.gen {
			m.gen = s.Generation + 1
		}
	}
	return m.gen, nil
}

func (m *memStore) Ping(context.Context) error { return nil }
func (m *memStore) Close() error               { return nil }

// Read-only methods on the committed state.
func (m *memStore) GetPrincipal(ctx context.Context, a string) (store.Principal, error) {
	return m.cur().GetPrincipal(ctx, a)
}
func (m *memStore) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	return m.cur().ListPrincipals(ctx, f)
}
func (m *memStore) GetGroup(ctx context.Context, a string) (store.Group, error) {
	return m.cur().GetGroup(ctx, a)
}
func (m *memStore) ListGroups(ctx context.Context, dir string) ([]store.Group, error) {
	return m.cur().ListGroups(ctx, dir)
}
func (m *memStore) TransitiveGroups(ctx context.Context, a string) ([]store.Group, error) {
	return m.cur().TransitiveGroups(ctx, a)
}
func (m *memStore) GetSyncState(ctx context.Context, dir string) (store.SyncState, error) {
	return m.cur().GetSyncState(ctx, dir)
}
func (m *memStore) GroupMembers(_ context.Context, g string) ([]string, error) {
	var out []string
	for member, gs := range m.cur().d.members {
		if slices.Contains(gs, g) {
			out = append(out, member)
		}
	}
	sort.Strings(out)
	return out, nil
}

func (t *memTx) UpsertPrincipal(_ context.Context, p store.Principal) (bool, error) {
	old, ok := t.d.principals[p.Anchor]
	t.d.principals[p.Anchor] = p
	return !ok || !samePrincipal(old, p) || old.ChangeMark != p.ChangeMark, nil
}

func (t *memTx) GetPrincipal(_ context.Context, a string) (store.Principal, error) {
	p, ok := t.d.principals[a]
	if !ok {
		return p, fmt.Errorf("principal %s: %w", a, store.ErrNotFound)
	}
	return p, nil
}

func (t *memTx) ListPrincipals(_ context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	var out []store.Principal
	for _, p := range t.d.principals {
		if (f.Directory == "" || p.Directory == f.Directory) && (f.IncludeDeleted || !p.Deleted) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b store.Principal) int { return strings.Compare(a.Name+a.Anchor, b.Name+b.Anchor) })
	return out, nil
}

func (t *memTx) MarkUnseenDeleted(_ context.Context, dir string, gen int64) (int, error) {
	n := 0
	for a, p := range t.d.principals {
		if p.Directory == dir && p.Generation < gen && !p.Deleted {
			p.Deleted = true
			t.d.principals[a] = p
			n++
		}
	}
	for a, g := range t.d.groups {
		if g.Directory == dir && g.Generation < gen && !g.Deleted {
			g.Deleted = true
			t.d.groups[a] = g
		}
	}
	return n, nil
}

func (t *memTx) UpsertGroup(_ context.Context, g store.Group) (bool, error) {
	t.d.groups[g.Anchor] = g
	return true, nil
}

func (t *memTx) GetGroup(_ context.Context, a string) (store.Group, error) {
	g, ok := t.d.groups[a]
	if !ok {
		return g, fmt.Errorf("group %s: %w", a, store.ErrNotFound)
	}
	return g, nil
}

func (t *memTx) ListGroups(_ context.Context, dir string) ([]store.Group, error) {
	var out []store.Group
	for _, g := range t.d.groups {
		if (dir == "" || g.Directory == dir) && !g.Deleted {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b store.Group) int { return strings.Compare(a.Name+a.Anchor, b.Name+b.Anchor) })
	return out, nil
}

func (t *memTx) SetMemberships(_ context.Context, member string, groups []string) error {
	t.d.members[member] = dedupe(slices.Clone(groups))
	return nil
}

func (t *memTx) TransitiveGroups(_ context.Context, member string) ([]store.Group, error) {
	seen := map[string]bool{}
	queue := slices.Clone(t.d.members[member])
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
		queue = append(queue, t.d.members[a]...)
	}
	slices.SortFunc(out, func(a, b store.Group) int { return strings.Compare(a.Name+a.Anchor, b.Name+b.Anchor) })
	return out, nil
}

func (t *memTx) GetSyncState(_ context.Context, dir string) (store.SyncState, error) {
	s, ok := t.d.states[dir]
	if !ok {
		return store.SyncState{Directory: dir}, nil
	}
	return s, nil
}

func (t *memTx) PutSyncState(_ context.Context, s store.SyncState) error {
	t.d.states[s.Directory] = s
	return nil
}

func (t *memTx) AppendAudit(_ context.Context, r store.AuditRecord) (int64, error) {
	r.ID = int64(len(t.d.audit) + 1)
	t.d.audit = append(t.d.audit, r)
	return r.ID, nil
}

// noListerStore hides GroupMembers (a store without the optional capability).
type noListerStore struct{ store.Store }

// mirrorSnapshot renders the directory mirror of any store.Store as text,
// without the fields that depend on when or how it was synced (SyncedAt,
// Generation, ChangeMark), for comparing two stores. Deleted principals are
// left out unless withDeleted (a fresh full sync never saw them).
func mirrorSnapshot(ctx context.Context, st store.Store, dir string, withDeleted bool) (string, error) {
	var b strings.Builder
	ps, err := st.ListPrincipals(ctx, store.PrincipalFilter{Directory: dir, IncludeDeleted: true})
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.Deleted && !withDeleted {
			continue
		}
		fmt.Fprintf(&b, "P %s name=%s realm=%s upn=%s sid=%s dn=%s display=%q enabled=%v deleted=%v expires=%s\n",
			p.Anchor, p.Name, p.Realm, p.UPN, p.SID, strings.ToLower(p.DN), p.DisplayName, p.Enabled, p.Deleted,
			p.Expires.UTC().Format(time.RFC3339))
		if p.Deleted {
			continue
		}
		gs, err := st.TransitiveGroups(ctx, p.Anchor)
		if err != nil {
			return "", err
		}
		for _, g := range gs {
			fmt.Fprintf(&b, "  in %s\n", g.Name)
		}
	}
	gs, err := st.ListGroups(ctx, dir)
	if err != nil {
		return "", err
	}
	for _, g := range gs {
		fmt.Fprintf(&b, "G %s name=%s dn=%s sid=%s\n", g.Anchor, g.Name, strings.ToLower(g.DN), g.SID)
		up, err := st.TransitiveGroups(ctx, g.Anchor)
		if err != nil {
			return "", err
		}
		for _, u := range up {
			fmt.Fprintf(&b, "  in %s\n", u.Name)
		}
	}
	return b.String(), nil
}
