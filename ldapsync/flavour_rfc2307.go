package ldapsync

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/kdc/krbname"
)

// RFC 2307 / inetOrgPerson defaults.
const (
	rfcUserFilter  = "(|(objectClass=inetOrgPerson)(objectClass=posixAccount))"
	rfcGroupFilter = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
	csnTimeLayout  = "20060102150405.000000Z"
	genTimeLayout  = "20060102150405Z"
)

// RFC2307 is the flavour of OpenLDAP and other RFC 2307 / inetOrgPerson
// directories.
type RFC2307 struct{ flavourBase }

// NewRFC2307 returns the RFC 2307 / inetOrgPerson flavour.
func NewRFC2307(o FlavourOptions) *RFC2307 {
	return &RFC2307{newFlavourBase(o, defaults{
		attrs: AttributeNames{Name: "uid", UPN: "krbPrincipalName", Anchor: "entryUUID", SID: "sambaSID",
			DisplayName: "displayName", MemberOf: "memberOf", Member: "member", MemberUID: "memberUid",
			GroupName: "cn", ChangeMark: "entryCSN"},
		userFilter: rfcUserFilter, groupFilter: rfcGroupFilter, membership: MembershipMember,
	})}
}

// Name implements Flavour.
func (f *RFC2307) Name() string { return "rfc2307" }

// UserAttributes implements Flavour.
func (f *RFC2307) UserAttributes() []string {
	attrs := []string{f.a.Name, f.a.UPN, f.a.Anchor, f.a.SID, f.a.DisplayName, "cn",
		"pwdAccountLockedTime", "nsAccountLock", "shadowExpire", f.a.ChangeMark}
	if f.membership == MembershipMemberOf {
		attrs = append(attrs, f.a.MemberOf)
	}
	return uniqueAttrs(attrs...)
}

// GroupAttributes implements Flavour.
func (f *RFC2307) GroupAttributes() []string {
	attrs := []string{f.a.GroupName, f.a.Anchor, f.a.SID, f.a.ChangeMark}
	if f.membership == MembershipMember {
		attrs = append(attrs, f.a.Member, "uniqueMember", f.a.MemberUID)
	} else {
		attrs = append(attrs, f.a.MemberOf)
	}
	return uniqueAttrs(attrs...)
}

// ParseUser implements Flavour.
func (f *RFC2307) ParseUser(e *ldap.Entry) (UserEntry, error) {
	var u UserEntry
	var err error
	p := &u.Principal
	p.DN, p.Realm = e.DN, f.realm
	if p.Anchor, err = f.anchor(e); err != nil {
		return u, err
	}
	if u.NameValue, err = nameValue(e, f.a.Name); err != nil {
		return u, err
	}
	if p.UPN, err = singleValue(e, f.a.UPN); err != nil {
		return u, err
	}
	p.Name = principalName(u.NameValue, p.UPN, f.realm)
	if p.SID, err = f.sid(e); err != nil {
		return u, err
	}
	if p.DisplayName, err = singleValue(e, f.a.DisplayName); err != nil {
		return u, err
	}
	if p.DisplayName == "" {
		p.DisplayName = e.GetEqualFoldAttributeValue("cn")
	}
	p.Enabled = !rfcLocked(e)
	if p.Expires, err = shadowExpire(e); err != nil {
		return u, err
	}
	if p.ChangeMark, err = singleValue(e, f.a.ChangeMark); err != nil {
		return u, err
	}
	if f.membership == MembershipMemberOf {
		u.MemberOf = e.GetEqualFoldAttributeValues(f.a.MemberOf)
	}
	return u, nil
}

// principalName is the name part of krbPrincipalName when it is in realm,
// else the uid.
func principalName(uid, krbName, realm string) string {
	if name, r := krbname.Split(krbName, ""); name != "" && r != "" && strings.EqualFold(r, realm) {
		return name
	}
	return uid
}

// rfcLocked: ppolicy pwdAccountLockedTime present (any value; lockouts that
// would expire by pwdLockoutDuration count until the next sync), or
// nsAccountLock true.
func rfcLocked(e *ldap.Entry) bool {
	if len(e.GetEqualFoldAttributeValues("pwdAccountLockedTime")) > 0 {
		return true
	}
	return strings.EqualFold(e.GetEqualFoldAttributeValue("nsAccountLock"), "true")
}

// shadowExpire reads shadowExpire (days since 1970-01-01; negative = never).
func shadowExpire(e *ldap.Entry) (time.Time, error) {
	v, err := singleValue(e, "shadowExpire")
	if err != nil || v == "" {
		return time.Time{}, err
	}
	days, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return time.Time{}, entryErr(e, "shadowExpire", "%q is not a day number", v)
	}
	if days < 0 {
		return time.Time{}, nil
	}
	return time.Unix(days*86400, 0).UTC(), nil
}

// ParseGroup implements Flavour.
func (f *RFC2307) ParseGroup(e *ldap.Entry) (GroupEntry, error) {
	var g GroupEntry
	var err error
	g.Group.DN = e.DN
	if g.Group.Anchor, err = f.anchor(e); err != nil {
		return g, err
	}
	if g.Group.Name, err = nameValue(e, f.a.GroupName); err != nil {
		return g, err
	}
	if g.Group.SID, err = f.sid(e); err != nil {
		return g, err
	}
	if g.Group.ChangeMark, err = singleValue(e, f.a.ChangeMark); err != nil {
		return g, err
	}
	if f.membership == MembershipMember {
		g.Members = append(e.GetEqualFoldAttributeValues(f.a.Member), e.GetEqualFoldAttributeValues("uniqueMember")...)
		g.MemberUIDs = e.GetEqualFoldAttributeValues(f.a.MemberUID)
	} else {
		g.MemberOf = e.GetEqualFoldAttributeValues(f.a.MemberOf)
	}
	return g, nil
}

func (f *RFC2307) anchor(e *ldap.Entry) (string, error) {
	v, err := requiredValue(e, f.a.Anchor)
	if err != nil {
		return "", err
	}
	s, err := CanonicalUUID(v)
	if err != nil {
		return "", entryErr(e, f.a.Anchor, "%w", err)
	}
	return s, nil
}

func (f *RFC2307) sid(e *ldap.Entry) (string, error) {
	v, err := singleValue(e, f.a.SID)
	if err != nil || v == "" {
		return "", err
	}
	s, err := CanonicalSID(v)
	if err != nil {
		return "", entryErr(e, f.a.SID, "%w", err)
	}
	return s, nil
}

// Attributes implements Flavour.
func (f *RFC2307) Attributes() AttributeNames { return f.a }

// AnchorSearch implements Flavour: (&(user filter)(entryUUID=…)) under base.
func (f *RFC2307) AnchorSearch(base, anchor string, group bool) *ldap.SearchRequest {
	kind, attrs := f.userFilter, f.UserAttributes()
	if group {
		kind, attrs = f.groupFilter, f.GroupAttributes()
	}
	filter := "(&" + kind + "(" + ldap.EscapeFilter(f.a.Anchor) + "=" + ldap.EscapeFilter(anchor) + "))"
	return ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		2, 0, false, filter, attrs, nil)
}

// ReverseMemberFilter implements Flavour: member or uniqueMember equal to the
// DN, or memberUid equal to the name.
func (f *RFC2307) ReverseMemberFilter(dn, name string) string {
	d := ldap.EscapeFilter(dn)
	out := "(|(" + ldap.EscapeFilter(f.a.Member) + "=" + d + ")(uniqueMember=" + d + ")"
	if name != "" {
		out += "(" + ldap.EscapeFilter(f.a.MemberUID) + "=" + ldap.EscapeFilter(name) + ")"
	}
	return out + ")"
}

// ChangedFilter implements Flavour: change mark (entryCSN or
// modifyTimestamp) at or after the mark, which Rewind has already moved back.
func (f *RFC2307) ChangedFilter(mark string) (string, error) {
	if _, err := markTime(mark); err != nil {
		return "", err
	}
	return "(" + ldap.EscapeFilter(f.a.ChangeMark) + ">=" + ldap.EscapeFilter(mark) + ")", nil
}

// Rewind implements Flavour: the mark's time less d, in the same format.
func (f *RFC2307) Rewind(mark string, d time.Duration) string {
	t, err := markTime(mark)
	if err != nil {
		return mark
	}
	t = t.Add(-d)
	if strings.Contains(mark, "#") {
		return t.Format(csnTimeLayout) + "#000000#000#000000"
	}
	return t.Format(genTimeLayout)
}

// markTime reads the time at the start of an entryCSN
// ("20240102030405.123456Z#000000#000#000000") or a GeneralizedTime.
func markTime(mark string) (time.Time, error) {
	ts, _, _ := strings.Cut(mark, "#")
	for _, layout := range []string{csnTimeLayout, genTimeLayout, "20060102150405.999999999Z"} {
		if t, err := time.Parse(layout, ts); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("ldapsync: high-water mark %q is neither an entryCSN nor a GeneralizedTime", mark)
}

// NewerMark implements Flavour: CSNs and GeneralizedTimes of one server
// compare as strings.
func (f *RFC2307) NewerMark(a, b string) bool { return a > b }

// Checkpoint implements Flavour: nothing to read; the syncer keeps the newest
// change mark it saw.
func (f *RFC2307) Checkpoint(context.Context, SearchConn) (Checkpoint, error) {
	return Checkpoint{}, nil
}

// Deleted implements Flavour: RFC 2307 directories keep no tombstones.
func (f *RFC2307) Deleted(context.Context, SearchConn, Checkpoint, string, int) ([]string, bool, error) {
	return nil, false, nil
}
