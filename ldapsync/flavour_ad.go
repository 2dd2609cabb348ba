package ldapsync

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Active Directory defaults.
const (
	adUserFilter  = "(&(objectCategory=person)(objectClass=user))"
	adGroupFilter = "(objectClass=group)"
	// adUACDisabled is userAccountControl ACCOUNTDISABLE.
	adUACDisabled = 0x2
	// adNever is accountExpires "never" (besides 0).
	adNever = math.MaxInt64
	// fileTimeUnixEpoch is 1970-01-01 in 100 ns ticks since 1601-01-01.
	fileTimeUnixEpoch = 116444736000000000
)

// AD is the Active Directory flavour (also Samba AD).
type AD struct{ flavourBase }

// NewAD returns the Active Directory flavour.
func NewAD(o FlavourOptions) *AD {
	return &AD{newFlavourBase(o, defaults{
		attrs: AttributeNames{Name: "sAMAccountName", UPN: "userPrincipalName", Anchor: "objectGUID",
			SID: "objectSid", DisplayName: "displayName", MemberOf: "memberOf", Member: "member",
			GroupName: "sAMAccountName", ChangeMark: "uSNChanged"},
		userFilter: adUserFilter, groupFilter: adGroupFilter, membership: MembershipMemberOf,
	})}
}

// Name implements Flavour.
func (f *AD) Name() string { return "ad" }

// UserAttributes implements Flavour.
func (f *AD) UserAttributes() []string {
	return uniqueAttrs(f.a.Name, f.a.UPN, f.a.Anchor, f.a.SID, f.a.DisplayName, f.a.MemberOf,
		"userAccountControl", "accountExpires", "primaryGroupID", f.a.ChangeMark)
}

// GroupAttributes implements Flavour.
func (f *AD) GroupAttributes() []string {
	attrs := []string{f.a.GroupName, f.a.Anchor, f.a.SID, f.a.ChangeMark}
	if f.membership == MembershipMember {
		return uniqueAttrs(append(attrs, f.a.Member)...)
	}
	return uniqueAttrs(append(attrs, f.a.MemberOf)...)
}

// ParseUser implements Flavour.
func (f *AD) ParseUser(e *ldap.Entry) (UserEntry, error) {
	var u UserEntry
	var err error
	p := &u.Principal
	p.DN, p.Realm = e.DN, f.realm
	if p.Anchor, err = f.anchor(e); err != nil {
		return u, err
	}
	if u.NameValue, err = requiredValue(e, f.a.Name); err != nil {
		return u, err
	}
	p.Name = u.NameValue
	if p.SID, err = f.sid(e, true); err != nil {
		return u, err
	}
	if p.UPN, err = singleValue(e, f.a.UPN); err != nil {
		return u, err
	}
	if p.DisplayName, err = singleValue(e, f.a.DisplayName); err != nil {
		return u, err
	}
	if p.Enabled, err = adEnabled(e); err != nil {
		return u, err
	}
	if p.Expires, err = adExpires(e); err != nil {
		return u, err
	}
	if p.ChangeMark, err = f.usn(e); err != nil {
		return u, err
	}
	if u.PrimaryGroupSID, err = adPrimaryGroup(e, p.SID); err != nil {
		return u, err
	}
	u.MemberOf = e.GetEqualFoldAttributeValues(f.a.MemberOf)
	return u, nil
}

// ParseGroup implements Flavour.
func (f *AD) ParseGroup(e *ldap.Entry) (GroupEntry, error) {
	var g GroupEntry
	var err error
	g.Group.DN = e.DN
	if g.Group.Anchor, err = f.anchor(e); err != nil {
		return g, err
	}
	if g.Group.Name, err = requiredValue(e, f.a.GroupName); err != nil {
		return g, err
	}
	if g.Group.SID, err = f.sid(e, false); err != nil {
		return g, err
	}
	if g.Group.ChangeMark, err = f.usn(e); err != nil {
		return g, err
	}
	g.MemberOf = e.GetEqualFoldAttributeValues(f.a.MemberOf)
	if f.membership == MembershipMember {
		g.Members = e.GetEqualFoldAttributeValues(f.a.Member)
	}
	return g, nil
}

func (f *AD) anchor(e *ldap.Entry) (string, error) {
	raw := e.GetEqualFoldRawAttributeValues(f.a.Anchor)
	if len(raw) != 1 {
		return "", entryErr(e, f.a.Anchor, "%d values, want one", len(raw))
	}
	s, err := DecodeGUID(raw[0])
	if err != nil {
		return "", entryErr(e, f.a.Anchor, "%w", err)
	}
	return s, nil
}

func (f *AD) sid(e *ldap.Entry, required bool) (string, error) {
	raw := e.GetEqualFoldRawAttributeValues(f.a.SID)
	switch {
	case len(raw) == 0 && !required:
		return "", nil
	case len(raw) != 1:
		return "", entryErr(e, f.a.SID, "%d values, want one", len(raw))
	}
	s, err := DecodeSID(raw[0])
	if err != nil {
		return "", entryErr(e, f.a.SID, "%w", err)
	}
	return s, nil
}

func (f *AD) usn(e *ldap.Entry) (string, error) {
	v, err := singleValue(e, f.a.ChangeMark)
	if err != nil || v == "" {
		return "", err
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil {
		return "", entryErr(e, f.a.ChangeMark, "%q is not a USN", v)
	}
	return v, nil
}

// adEnabled reads userAccountControl: ACCOUNTDISABLE (0x2) means disabled.
func adEnabled(e *ldap.Entry) (bool, error) {
	v, err := requiredValue(e, "userAccountControl")
	if err != nil {
		return false, err
	}
	uac, err := strconv.ParseInt(v, 10, 64) // written signed by some tools
	if err != nil || uac < math.MinInt32 || uac > math.MaxUint32 {
		return false, entryErr(e, "userAccountControl", "%q is not a 32-bit integer", v)
	}
	return uint32(uac)&adUACDisabled == 0, nil
}

// adExpires reads accountExpires (FILETIME; 0 and 2^63-1 mean never).
func adExpires(e *ldap.Entry) (time.Time, error) {
	v, err := singleValue(e, "accountExpires")
	if err != nil || v == "" {
		return time.Time{}, err
	}
	ft, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ft < 0 {
		return time.Time{}, entryErr(e, "accountExpires", "%q is not a FILETIME", v)
	}
	if ft == 0 || ft == adNever {
		return time.Time{}, nil
	}
	ticks := ft - fileTimeUnixEpoch
	return time.Unix(ticks/1e7, (ticks%1e7)*100).UTC(), nil
}

// adPrimaryGroup builds the primary group's SID from the user's domain SID and
// primaryGroupID (a RID).
func adPrimaryGroup(e *ldap.Entry, userSID string) (string, error) {
	v, err := singleValue(e, "primaryGroupID")
	if err != nil || v == "" {
		return "", err
	}
	rid, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return "", entryErr(e, "primaryGroupID", "%q is not a RID", v)
	}
	sid, err := ParseSID(userSID)
	if err != nil || len(sid.SubAuthorities) < 2 {
		return "", nil
	}
	sid.SubAuthorities[len(sid.SubAuthorities)-1] = uint32(rid)
	return sid.String(), nil
}

// Attributes implements Flavour.
func (f *AD) Attributes() AttributeNames { return f.a }

// AnchorSearch implements Flavour: a base search on "<GUID=…>".
func (f *AD) AnchorSearch(_, anchor string, group bool) *ldap.SearchRequest {
	filter, attrs := f.userFilter, f.UserAttributes()
	if group {
		filter, attrs = f.groupFilter, f.GroupAttributes()
	}
	return ldap.NewSearchRequest("<GUID="+anchor+">", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, filter, attrs, nil)
}

// ReverseMemberFilter implements Flavour: (member=dn).
func (f *AD) ReverseMemberFilter(dn, _ string) string {
	return "(" + ldap.EscapeFilter(f.a.Member) + "=" + ldap.EscapeFilter(dn) + ")"
}

// ChangedFilter implements Flavour: uSNChanged above the mark.
func (f *AD) ChangedFilter(mark string) (string, error) {
	n, err := strconv.ParseUint(mark, 10, 64)
	if err != nil {
		return "", fmt.Errorf("ldapsync: high-water mark %q is not a USN", mark)
	}
	return fmt.Sprintf("(%s>=%d)", ldap.EscapeFilter(f.a.ChangeMark), n+1), nil
}

// Rewind implements Flavour: AD marks come from the server's checkpoint and
// need no rewinding.
func (f *AD) Rewind(mark string, _ time.Duration) string { return mark }

// NewerMark implements Flavour (numeric USNs).
func (f *AD) NewerMark(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && (errB != nil || x > y)
}

// Checkpoint implements Flavour: highestCommittedUSN and the DC's invocationId
// (from its NTDS Settings object, named by dsServiceName), read before the pass
// as [MS-ADTS] "polling for changes using uSNChanged" prescribes.
func (f *AD) Checkpoint(ctx context.Context, c SearchConn) (Checkpoint, error) {
	root, err := readEntry(ctx, c, "", []string{"highestCommittedUSN", "dsServiceName", "defaultNamingContext"})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ldapsync: RootDSE: %w", err)
	}
	cp := Checkpoint{
		HighWater:     root.GetAttributeValue("highestCommittedUSN"),
		NamingContext: root.GetAttributeValue("defaultNamingContext"),
	}
	if _, err := strconv.ParseUint(cp.HighWater, 10, 64); err != nil {
		return Checkpoint{}, fmt.Errorf("ldapsync: RootDSE highestCommittedUSN %q: not an AD domain controller?", cp.HighWater)
	}
	svc := root.GetAttributeValue("dsServiceName")
	ntds, err := readEntry(ctx, c, svc, []string{"invocationId"})
	if err != nil {
		return Checkpoint{}, fmt.Errorf("ldapsync: NTDS settings %q: %w", svc, err)
	}
	if cp.InvocationID, err = DecodeGUID(ntds.GetRawAttributeValue("invocationId")); err != nil {
		return Checkpoint{}, fmt.Errorf("ldapsync: invocationId of %q: %w", svc, err)
	}
	return cp, nil
}

// Deleted implements Flavour: tombstones (isDeleted=TRUE) changed after mark,
// found under the naming context with the Show Deleted control.
func (f *AD) Deleted(ctx context.Context, c SearchConn, cp Checkpoint, mark string, pageSize int) ([]string, bool, error) {
	changed, err := f.ChangedFilter(mark)
	if err != nil {
		return nil, true, err
	}
	filter := "(&(isDeleted=TRUE)" + changed + "(|(objectClass=user)(objectClass=group)))"
	req := ldap.NewSearchRequest(cp.NamingContext, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{f.a.Anchor}, []ldap.Control{ldap.NewControlMicrosoftShowDeleted()})
	var anchors []string
	err = pagedSearch(ctx, c, req, pageSize, func(e *ldap.Entry) error {
		a, err := f.anchor(e)
		if err != nil {
			return err
		}
		anchors = append(anchors, a)
		return nil
	})
	return anchors, true, err
}
