package ldapsync

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/store"
)

// errTooManyChanges turns an incremental pass into a full one.
var errTooManyChanges = errors.New("too many changes for an incremental pass")

// incremental reads what changed since the high-water mark. It returns a
// reason when a full pass must run instead (and has then written nothing).
func (p *pass) incremental(ctx context.Context) (string, error) {
	o := p.s.o
	p.sum.Mode = "incremental"
	var err error
	if p.cp, err = o.Flavour.Checkpoint(ctx, p.conn); err != nil {
		return "", err
	}
	if p.cp.InvocationID != p.state.InvocationID {
		return "directory database changed (invocationId)", nil
	}
	if p.cp.HighWater != "" && o.Flavour.NewerMark(p.state.HighWater, p.cp.HighWater) {
		return "high-water mark ahead of the directory (restored from backup?)", nil
	}
	changed, err := o.Flavour.ChangedFilter(p.state.HighWater)
	if err != nil {
		return fmt.Sprintf("unusable high-water mark (%v)", err), nil
	}
	reason, err := p.readChanges(ctx, changed)
	if errors.Is(err, errTooManyChanges) {
		return fmt.Sprintf("more than %d changes", o.MaxIncremental), nil
	}
	if err != nil || reason != "" {
		return reason, err
	}
	if err := p.resolveGroups(ctx); err != nil {
		return "", err
	}
	return "", p.apply(ctx, false)
}

func (p *pass) readChanges(ctx context.Context, changed string) (string, error) {
	o := p.s.o
	var err error
	if p.ix, err = p.storeIndex(ctx); err != nil {
		return "", err
	}
	p.gseen, p.useen = map[string]bool{}, map[string]bool{}
	if err := p.readGroups(ctx, "(&"+o.Flavour.GroupFilter()+changed+")", nil); err != nil {
		return "", err
	}
	if err := p.dropUnchangedGroups(ctx); err != nil {
		return "", err
	}
	if p.deleted, _, err = o.Flavour.Deleted(ctx, p.conn, p.cp, p.state.HighWater, o.PageSize); err != nil {
		return "", err
	}
	p.src = memberOfSource{p.ix}
	if o.Flavour.Membership() == MembershipMember {
		p.src = querySource{o: &p.s.o, conn: p.queryConn, ix: p.ix}
	}
	if p.sp, err = newSpill(o.SpillDir); err != nil {
		return "", err
	}
	p.skipUnchanged = true
	err = p.readUsers(ctx, "(&"+o.Flavour.UserFilter()+changed+")")
	p.skipUnchanged = false
	if err != nil {
		return "", err
	}
	return p.readAffected(ctx)
}

// dropUnchangedGroups forgets groups whose change mark equals the mirrored
// one: the change filter's overlap (RFC 2307) returns them again although
// nothing changed since they were mirrored.
func (p *pass) dropUnchangedGroups(ctx context.Context) error {
	kept := p.groups[:0]
	for _, g := range p.groups {
		old, err := p.s.o.Store.GetGroup(ctx, g.Group.Anchor)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ldapsync: store: %w", err)
		}
		if err == nil && !old.Deleted && g.Group.ChangeMark != "" && old.ChangeMark == g.Group.ChangeMark {
			p.sum.Groups--
			delete(p.gseen, g.Group.Anchor)
			continue
		}
		kept = append(kept, g)
	}
	p.groups = kept
	return nil
}

// unchangedUser reports whether the mirror already has this user at this
// change mark (skipped in the change search; never for re-read members).
func (p *pass) unchangedUser(ctx context.Context, u *UserEntry) (bool, error) {
	if !p.skipUnchanged || u.Principal.ChangeMark == "" {
		return false, nil
	}
	old, err := p.s.o.Store.GetPrincipal(ctx, u.Principal.Anchor)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ldapsync: store: %w", err)
	}
	return !old.Deleted && old.ChangeMark == u.Principal.ChangeMark, nil
}

// queryConn is a second connection for searches made while a paged search
// is in progress on the first; opened on first use, closed with the pass.
func (p *pass) queryConn(ctx context.Context) (SearchConn, error) {
	if p.qconn == nil {
		c, err := p.s.dial(ctx)
		if err != nil {
			return nil, err
		}
		p.qconn = c
	}
	return p.qconn, nil
}

// storeIndex indexes the mirrored groups (the incremental pass reads only the
// changed ones from the directory).
func (p *pass) storeIndex(ctx context.Context) (*groupIndex, error) {
	gs, err := p.s.o.Store.ListGroups(ctx, p.s.o.Directory)
	if err != nil {
		return nil, fmt.Errorf("ldapsync: store: %w", err)
	}
	ix := newGroupIndex()
	for _, g := range gs {
		ix.add(g.Anchor, g.DN, g.SID)
	}
	return ix, nil
}

// readAffected re-reads the members, old and new, of every changed or
// deleted group: their direct groups changed although they did not.
func (p *pass) readAffected(ctx context.Context) (string, error) {
	var old []string // groups whose stored members must be re-read
	for _, a := range p.deleted {
		if _, err := p.s.o.Store.GetGroup(ctx, a); err == nil {
			old = append(old, a)
		}
	}
	if len(p.groups)+len(old) == 0 {
		return "", nil
	}
	lister := p.s.o.Store
	changed := p.groups // readNewMembers may append nested member groups
	for i := range changed {
		old = append(old, changed[i].Group.Anchor)
		if err := p.readNewMembers(ctx, &changed[i]); err != nil {
			return "", err
		}
	}
	for _, g := range old {
		members, err := lister.GroupMembers(ctx, g)
		if err != nil {
			return "", fmt.Errorf("ldapsync: store: %w", err)
		}
		for _, m := range members {
			if err := p.rereadByAnchor(ctx, m); err != nil {
				return "", err
			}
		}
	}
	return "", nil
}

// readNewMembers stages the current direct members of a changed group.
func (p *pass) readNewMembers(ctx context.Context, g *GroupEntry) error {
	o := p.s.o
	if o.Flavour.Membership() == MembershipMemberOf {
		f := "(" + ldap.EscapeFilter(o.Flavour.Attributes().MemberOf) + "=" + ldap.EscapeFilter(g.Group.DN) + ")"
		if err := p.readUsers(ctx, "(&"+o.Flavour.UserFilter()+f+")"); err != nil {
			return err
		}
		return p.readGroups(ctx, "(&"+o.Flavour.GroupFilter()+f+")", nil)
	}
	for _, dn := range g.Members {
		if err := p.rereadByDN(ctx, dn); err != nil {
			return err
		}
	}
	for _, uid := range g.MemberUIDs {
		f := "(" + ldap.EscapeFilter(o.Flavour.Attributes().Name) + "=" + ldap.EscapeFilter(uid) + ")"
		if err := p.readUsers(ctx, "(&"+o.Flavour.UserFilter()+f+")"); err != nil {
			return err
		}
	}
	return nil
}

// rereadByDN stages the user or group at dn (nothing when it is neither,
// e.g. a placeholder member).
func (p *pass) rereadByDN(ctx context.Context, dn string) error {
	o := p.s.o
	for _, group := range []bool{false, true} {
		filter, attrs := o.Flavour.UserFilter(), o.Flavour.UserAttributes()
		if group {
			filter, attrs = o.Flavour.GroupFilter(), o.Flavour.GroupAttributes()
		}
		req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false, filter, attrs, nil)
		e, err := searchOne(ctx, p.conn, req)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		return p.stageEntry(ctx, e, group)
	}
	return nil
}

// rereadByAnchor stages the mirrored user or group with this anchor afresh;
// one the directory no longer has is marked deleted.
func (p *pass) rereadByAnchor(ctx context.Context, anchor string) error {
	if p.useen[anchor] || p.gseen[anchor] {
		return nil
	}
	o := p.s.o
	_, gerr := o.Store.GetGroup(ctx, anchor)
	group := gerr == nil
	base := o.UserBaseDN
	if group {
		base = o.GroupBaseDN
	}
	e, err := searchOne(ctx, p.conn, o.Flavour.AnchorSearch(base, anchor, group))
	if errors.Is(err, ErrNotFound) {
		p.deleted = append(p.deleted, anchor)
		return nil
	}
	if err != nil {
		return err
	}
	return p.stageEntry(ctx, e, group)
}

func (p *pass) stageEntry(ctx context.Context, e *ldap.Entry, group bool) error {
	if !group {
		return p.stageUser(ctx, e)
	}
	g, err := p.s.o.Flavour.ParseGroup(e)
	if err != nil {
		return err
	}
	if !p.gseen[g.Group.Anchor] {
		p.addGroup(g)
	}
	return nil
}
