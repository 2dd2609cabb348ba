package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"github.com/sirupsen/logrus"
	"slices"
	"strings"
	"time"

	"github.com/passkdc/passkdc/store"
)

// ErrStale: the directory cannot be reached and the mirror is older than
// max_staleness, so the caller must refuse (fail closed).
var ErrStale = errors.New("directory unreachable and mirror older than max_staleness")

// StaleError is the detail of ErrStale.
type StaleError struct {
	Anchor       string
	Age          time.Duration // since the mirror last confirmed the principal
	MaxStaleness time.Duration
	Cause        error // why the directory was not used (nil when live_check is off)
}

// Error implements error.
func (e *StaleError) Error() string {
	s := fmt.Sprintf("ldapsync: principal %s: %v (mirror %s old, max_staleness %s)",
		e.Anchor, ErrStale, e.Age.Round(time.Second), e.MaxStaleness)
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is matches ErrStale.
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Unwrap returns the cause.
func (e *StaleError) Unwrap() error { return e.Cause }

// LiveLookup returns the principal with this anchor and every group it belongs
// to, directly or nested, for the sign-in policy check.
//
// With live_check on it re-reads the user from the directory (AD: a base
// search on <GUID=…>; RFC 2307: (entryUUID=…)), so a disable or a group change
// counts at once; a user the directory no longer has comes back with Deleted
// set. Groups are resolved through the mirrored group graph (groups created
// since the last sync are not known yet) and, for AD, completed with the
// user's constructed tokenGroups, which the DC decides the replication policy
// with (groups outside group_base_dn, builtin groups reached by nesting): those
// come back known by SID only. The store is not written.
//
// When the directory is unreachable (or live_check is off) it answers from the
// mirror, but only if the mirror confirmed the principal within max_staleness
// (the later of its SyncedAt and the directory's last successful sync); else it
// fails with a *StaleError matching ErrStale. Other directory errors (bad
// credentials, TLS, malformed entry) are returned as they are: fail closed.
func (s *Syncer) LiveLookup(ctx context.Context, anchor string) (store.Principal, []store.Group, error) {
	anchor, err := CanonicalUUID(anchor)
	if err != nil {
		return store.Principal{}, nil, err
	}
	if !s.o.LiveCheck {
		return s.fromMirror(ctx, anchor, nil)
	}
	p, groups, err := s.readLive(ctx, anchor)
	if errors.Is(err, ErrUnreachable) {
		p, groups, merr := s.fromMirror(ctx, anchor, err)
		if merr == nil {
			s.fallbacks.Add(1)
			s.o.Logger.WithError(err).WithFields(logrus.Fields{"anchor": anchor, "principal": p.Name}).
				Warn("live check: directory unreachable; answered from the mirror (within sync.max_staleness)")
		}
		return p, groups, merr
	}
	return p, groups, err
}

func (s *Syncer) readLive(ctx context.Context, anchor string) (store.Principal, []store.Group, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return store.Principal{}, nil, err
	}
	defer conn.Close()
	e, err := searchOne(ctx, conn, s.o.Flavour.AnchorSearch(s.o.UserBaseDN, anchor, false))
	if errors.Is(err, ErrNotFound) {
		return s.goneLive(ctx, anchor)
	}
	if err != nil {
		return store.Principal{}, nil, err
	}
	u, err := s.o.Flavour.ParseUser(e)
	if err != nil {
		return store.Principal{}, nil, err
	}
	ix, err := (&pass{s: s}).storeIndex(ctx)
	if err != nil {
		return store.Principal{}, nil, err
	}
	var src memberSource = memberOfSource{ix}
	if s.o.Flavour.Membership() == MembershipMember {
		src = querySource{o: &s.o, conn: func(context.Context) (SearchConn, error) { return conn, nil }, ix: ix}
	}
	direct, err := src.userGroups(ctx, &u)
	if err != nil {
		return store.Principal{}, nil, err
	}
	groups, err := s.closure(ctx, direct)
	if err != nil {
		return store.Principal{}, nil, err
	}
	if s.o.Flavour.Name() == "ad" {
		sids, err := TokenGroups(ctx, conn, e.DN)
		if err != nil {
			return store.Principal{}, nil, fmt.Errorf("ldapsync: live check of %s: %w", e.DN, err)
		}
		groups = withTokenGroups(groups, sids)
	}
	p := u.Principal
	p.Directory, p.SyncedAt = s.o.Directory, s.o.Now().UTC()
	if old, err := s.o.Store.GetPrincipal(ctx, anchor); err == nil {
		p.Generation = old.Generation
	}
	return p, groups, nil
}

// withTokenGroups adds to groups every SID of the user's tokenGroups that no
// mirrored group carries (groups outside group_base_dn, builtin domain-local
// groups reached through nesting, the primary group), as groups known only by
// their SID: the DC decides the replication policy from tokenGroups, and so
// must passkdc.
func withTokenGroups(groups []store.Group, sids []string) []store.Group {
	have := make(map[string]bool, len(groups))
	for _, g := range groups {
		if c, err := CanonicalSID(g.SID); err == nil {
			have[c] = true
		}
	}
	for _, sid := range sids {
		c, err := CanonicalSID(sid)
		if err != nil || have[c] {
			continue
		}
		have[c] = true
		groups = append(groups, store.Group{SID: c})
	}
	return groups
}

// goneLive reports a user the directory does not have (any more).
func (s *Syncer) goneLive(ctx context.Context, anchor string) (store.Principal, []store.Group, error) {
	p, err := s.o.Store.GetPrincipal(ctx, anchor)
	if err != nil {
		return store.Principal{}, nil, fmt.Errorf("ldapsync: principal %s: not in the directory: %w", anchor, err)
	}
	p.Deleted, p.Enabled, p.SyncedAt = true, false, s.o.Now().UTC()
	return p, nil, nil
}

// closure returns the stored, non-deleted groups in direct and every group
// they are nested in, sorted by name.
func (s *Syncer) closure(ctx context.Context, direct []string) ([]store.Group, error) {
	seen := map[string]store.Group{}
	for _, a := range direct {
		g, err := s.o.Store.GetGroup(ctx, a)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ldapsync: store: %w", err)
		}
		if g.Deleted {
			continue
		}
		seen[g.Anchor] = g
		up, err := s.o.Store.TransitiveGroups(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("ldapsync: store: %w", err)
		}
		for _, t := range up {
			seen[t.Anchor] = t
		}
	}
	out := make([]store.Group, 0, len(seen))
	for _, g := range seen {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b store.Group) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Anchor, b.Anchor)
	})
	return out, nil
}

// fromMirror answers from the store within max_staleness (through the view
// when there is one).
func (s *Syncer) fromMirror(ctx context.Context, anchor string, cause error) (store.Principal, []store.Group, error) {
	m, err := s.mirrorMarker(ctx)
	if err != nil {
		return store.Principal{}, nil, errors.Join(fmt.Errorf("ldapsync: store: %w", err), cause)
	}
	p, err := s.mirrorPrincipal(ctx, anchor, m)
	if err != nil {
		return store.Principal{}, nil, errors.Join(fmt.Errorf("ldapsync: principal %s: %w", anchor, err), cause)
	}
	st, err := s.o.Store.GetSyncState(ctx, s.o.Directory)
	if err != nil {
		return store.Principal{}, nil, fmt.Errorf("ldapsync: store: %w", err)
	}
	confirmed := p.SyncedAt
	if st.LastSync.After(confirmed) {
		confirmed = st.LastSync
	}
	age := s.o.Now().Sub(confirmed)
	if confirmed.IsZero() || age > s.o.MaxStaleness {
		return store.Principal{}, nil, &StaleError{Anchor: anchor, Age: age, MaxStaleness: s.o.MaxStaleness, Cause: cause}
	}
	groups, err := s.mirrorGroups(ctx, anchor, m)
	if err != nil {
		return store.Principal{}, nil, fmt.Errorf("ldapsync: store: %w", err)
	}
	return p, groups, nil
}

// mirrorMarker reads the store's change marker the view answers for (0
// without a view).
func (s *Syncer) mirrorMarker(ctx context.Context) (int64, error) {
	if s.o.View == nil {
		return 0, nil
	}
	return s.o.View.Marker(ctx)
}

// mirrorPrincipal reads a principal from the mirror as of marker m.
func (s *Syncer) mirrorPrincipal(ctx context.Context, anchor string, m int64) (store.Principal, error) {
	if s.o.View == nil {
		return s.o.Store.GetPrincipal(ctx, anchor)
	}
	return s.o.View.Principal(ctx, anchor, m)
}

// mirrorGroups reads a principal's transitive groups from the mirror as of
// marker m (the view's list is shared: callers only read it).
func (s *Syncer) mirrorGroups(ctx context.Context, anchor string, m int64) ([]store.Group, error) {
	if s.o.View == nil {
		return s.o.Store.TransitiveGroups(ctx, anchor)
	}
	return s.o.View.Groups(ctx, anchor, m)
}
