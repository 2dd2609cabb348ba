package ldapsync

import (
	"context"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// groupIndex resolves group references (DNs, SIDs) to anchors. It holds every
// group of the directory: memory grows with the number of groups, not users.
type groupIndex struct {
	byDN  map[string]string // normDN → anchor
	bySID map[string]string // SID → anchor
	// members is filled only for membership "member" during a full pass:
	// "dn:"+normDN / "uid:"+lower(name) of a member → anchors of its groups.
	// Memory grows with the number of membership edges.
	members map[string][]string
}

func newGroupIndex() *groupIndex {
	return &groupIndex{byDN: map[string]string{}, bySID: map[string]string{}}
}

func (ix *groupIndex) add(anchor, dn, sid string) {
	ix.byDN[normDN(dn)] = anchor
	if sid != "" {
		ix.bySID[sid] = anchor
	}
}

func (ix *groupIndex) addMembers(g *GroupEntry) {
	if ix.members == nil {
		ix.members = map[string][]string{}
	}
	for _, dn := range g.Members {
		k := "dn:" + normDN(dn)
		ix.members[k] = append(ix.members[k], g.Group.Anchor)
	}
	for _, uid := range g.MemberUIDs {
		k := "uid:" + strings.ToLower(uid)
		ix.members[k] = append(ix.members[k], g.Group.Anchor)
	}
}

// byDNs maps DNs to anchors, dropping references to unknown groups (outside
// the group base or filter, or dangling).
func (ix *groupIndex) byDNs(dns []string) []string {
	out := make([]string, 0, len(dns))
	for _, dn := range dns {
		if a, ok := ix.byDN[normDN(dn)]; ok {
			out = append(out, a)
		}
	}
	return out
}

func (ix *groupIndex) primary(sid string) []string {
	if a, ok := ix.bySID[sid]; ok && sid != "" {
		return []string{a}
	}
	return nil
}

func (ix *groupIndex) inverted(dn, name string) []string {
	out := slices.Clone(ix.members["dn:"+normDN(dn)])
	if name != "" {
		out = append(out, ix.members["uid:"+strings.ToLower(name)]...)
	}
	return out
}

// memberSource computes the direct groups (anchors) of an entry.
type memberSource interface {
	userGroups(ctx context.Context, u *UserEntry) ([]string, error)
	groupGroups(ctx context.Context, g *GroupEntry) ([]string, error)
}

// memberOfSource reads the entry's own memberOf.
type memberOfSource struct{ ix *groupIndex }

func (m memberOfSource) userGroups(_ context.Context, u *UserEntry) ([]string, error) {
	return dedupe(append(m.ix.byDNs(u.MemberOf), m.ix.primary(u.PrimaryGroupSID)...)), nil
}

func (m memberOfSource) groupGroups(_ context.Context, g *GroupEntry) ([]string, error) {
	return dedupe(m.ix.byDNs(g.MemberOf)), nil
}

// invertedSource looks the entry up in the inverted member index of a full pass.
type invertedSource struct{ ix *groupIndex }

func (m invertedSource) userGroups(_ context.Context, u *UserEntry) ([]string, error) {
	return dedupe(append(m.ix.inverted(u.Principal.DN, u.NameValue), m.ix.primary(u.PrimaryGroupSID)...)), nil
}

func (m invertedSource) groupGroups(_ context.Context, g *GroupEntry) ([]string, error) {
	return dedupe(m.ix.inverted(g.Group.DN, "")), nil
}

// querySource asks the directory which groups list the entry as a member
// (membership member, incremental passes and live lookups). It searches on
// its own connection: a search in the middle of a paged search on the same
// connection invalidates the paging cookie (OpenLDAP).
type querySource struct {
	o    *Options
	conn func(context.Context) (SearchConn, error)
	ix   *groupIndex
}

func (m querySource) userGroups(ctx context.Context, u *UserEntry) ([]string, error) {
	gs, err := m.query(ctx, u.Principal.DN, u.NameValue)
	return dedupe(append(gs, m.ix.primary(u.PrimaryGroupSID)...)), err
}

func (m querySource) groupGroups(ctx context.Context, g *GroupEntry) ([]string, error) {
	gs, err := m.query(ctx, g.Group.DN, "")
	return dedupe(gs), err
}

func (m querySource) query(ctx context.Context, dn, name string) ([]string, error) {
	o := m.o
	conn, err := m.conn(ctx)
	if err != nil {
		return nil, err
	}
	filter := "(&" + o.Flavour.GroupFilter() + o.Flavour.ReverseMemberFilter(dn, name) + ")"
	req := ldap.NewSearchRequest(o.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{o.Flavour.Attributes().Anchor, o.Flavour.Attributes().GroupName}, nil)
	var out []string
	err = pagedSearch(ctx, conn, req, o.PageSize, func(e *ldap.Entry) error {
		g, err := o.Flavour.ParseGroup(e)
		if err != nil {
			return err
		}
		out = append(out, g.Group.Anchor)
		return nil
	})
	return out, err
}

func dedupe(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	slices.Sort(s)
	return slices.Compact(s)
}
