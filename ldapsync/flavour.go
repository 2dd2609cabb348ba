package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/store"
)

// ErrMalformedEntry is wrapped by every *EntryError: a directory entry that
// cannot be mirrored (no anchor, no name, a garbled SID or GUID, a bad number).
var ErrMalformedEntry = errors.New("ldapsync: malformed directory entry")

// EntryError names the entry and attribute a parse failed on.
type EntryError struct {
	DN   string
	Attr string
	Err  error
}

// Error implements error.
func (e *EntryError) Error() string {
	return fmt.Sprintf("ldapsync: entry %q: attribute %s: %v", e.DN, e.Attr, e.Err)
}

// Unwrap returns the cause (ErrBadSID, ErrBadGUID, …).
func (e *EntryError) Unwrap() error { return e.Err }

// Is makes every EntryError match ErrMalformedEntry.
func (e *EntryError) Is(target error) bool { return target == ErrMalformedEntry }

func entryErr(e *ldap.Entry, attr string, format string, args ...any) error {
	return &EntryError{DN: e.DN, Attr: attr, Err: fmt.Errorf(format, args...)}
}

// Membership sources (ldap.membership).
const (
	MembershipMemberOf = "member_of" // each entry's own memberOf (AD; OpenLDAP memberof overlay)
	MembershipMember   = "member"    // the groups' member / uniqueMember / memberUid
)

// AttributeNames overrides the attribute a flavour reads for each field; an
// empty field keeps the flavour's default.
type AttributeNames struct {
	Name        string
	UPN         string
	Anchor      string
	SID         string
	DisplayName string
	MemberOf    string
	Member      string
	MemberUID   string
	GroupName   string
	ChangeMark  string
}

// FlavourOptions configure a flavour.
type FlavourOptions struct {
	Realm       string // Kerberos realm of the principals
	UserFilter  string // "" = flavour default
	GroupFilter string // "" = flavour default
	Membership  string // "" = flavour default
	Attributes  AttributeNames
}

// UserEntry is a user parsed from the directory.
type UserEntry struct {
	// Principal has the directory fields set (Anchor, Name, Realm, UPN, SID, DN,
	// DisplayName, Enabled, Expires, ChangeMark); the syncer sets the rest.
	Principal store.Principal
	// NameValue is the raw value of the name attribute (uid), matched against memberUid.
	NameValue string
	// MemberOf holds the DNs of the groups the user is a direct member of
	// (membership member_of only).
	MemberOf []string
	// PrimaryGroupSID is the SID of AD's primary group (primaryGroupID), which
	// memberOf never lists; "" elsewhere.
	PrimaryGroupSID string
}

// GroupEntry is a group parsed from the directory.
type GroupEntry struct {
	Group      store.Group // Anchor, Name, DN, SID, ChangeMark set
	MemberOf   []string    // DNs of the groups this group is a direct member of (member_of)
	Members    []string    // member / uniqueMember DNs (membership member)
	MemberUIDs []string    // memberUid values (membership member, RFC 2307)
}

// Checkpoint is the directory's position, read before a pass.
type Checkpoint struct {
	// HighWater is the mark the next incremental pass starts from (AD: the
	// highestCommittedUSN read before the pass). Empty: the syncer uses the
	// greatest change mark it saw.
	HighWater string
	// InvocationID identifies the database the mark belongs to (AD: the DC's
	// invocationId); a change forces a full pass.
	InvocationID string
	// NamingContext is where deleted objects are searched (AD: defaultNamingContext).
	NamingContext string
}

// Flavour adapts one kind of directory (the dex connector pattern): which
// entries are users and groups, which attributes to read and how to turn them
// into store records, and how to find changes and deletions.
type Flavour interface {
	// Name is "ad" or "rfc2307".
	Name() string
	// Membership is MembershipMemberOf or MembershipMember.
	Membership() string
	UserFilter() string
	GroupFilter() string
	UserAttributes() []string
	GroupAttributes() []string
	// ParseUser and ParseGroup fail with an *EntryError on a malformed entry.
	ParseUser(e *ldap.Entry) (UserEntry, error)
	ParseGroup(e *ldap.Entry) (GroupEntry, error)
	// Attributes returns the attribute names in effect (defaults filled in).
	Attributes() AttributeNames
	// AnchorSearch returns a search for the one user (group when group is set)
	// with this anchor (canonical UUID) under base; it finds nothing (or fails
	// with result 32) when there is none.
	AnchorSearch(base, anchor string, group bool) *ldap.SearchRequest
	// ReverseMemberFilter matches the groups that list the entry with this DN
	// and name value as a direct member (membership member).
	ReverseMemberFilter(dn, name string) string
	// ChangedFilter returns a filter (without the user/group part) matching
	// entries changed since mark.
	ChangedFilter(mark string) (string, error)
	// Checkpoint reads the server's position before a pass.
	Checkpoint(ctx context.Context, c SearchConn) (Checkpoint, error)
	// Deleted lists the anchors of users and groups deleted since mark. ok is
	// false when the directory keeps no tombstones (RFC 2307): deletions then
	// reach the mirror at the next full pass.
	Deleted(ctx context.Context, c SearchConn, cp Checkpoint, mark string, pageSize int) (anchors []string, ok bool, err error)
	// NewerMark reports whether change mark a is later than b.
	NewerMark(a, b string) bool
	// Rewind moves a time-based change mark back by d (identity for others).
	Rewind(mark string, d time.Duration) string
}

// NewFlavour returns the flavour called name ("ad" or "rfc2307").
func NewFlavour(name string, o FlavourOptions) (Flavour, error) {
	switch name {
	case FlavourAD:
		return NewAD(o), nil
	case FlavourRFC2307:
		return NewRFC2307(o), nil
	}
	return nil, fmt.Errorf("ldapsync: unknown directory flavour %q (want %s)", name, strings.Join(Flavours(), " or "))
}

// The directory flavours by name (ldap.flavour).
const (
	FlavourAD      = "ad"
	FlavourRFC2307 = "rfc2307"
)

// Flavours lists the names NewFlavour knows.
func Flavours() []string { return []string{FlavourAD, FlavourRFC2307} }

// withDefaults fills every empty name of a from d.
func (a AttributeNames) withDefaults(d AttributeNames) AttributeNames {
	for _, f := range []struct {
		v   *string
		def string
	}{
		{&a.Name, d.Name}, {&a.UPN, d.UPN}, {&a.Anchor, d.Anchor}, {&a.SID, d.SID},
		{&a.DisplayName, d.DisplayName}, {&a.MemberOf, d.MemberOf}, {&a.Member, d.Member},
		{&a.MemberUID, d.MemberUID}, {&a.GroupName, d.GroupName}, {&a.ChangeMark, d.ChangeMark},
	} {
		*f.v = orDefault(*f.v, f.def)
	}
	return a
}

// flavourBase is what both flavours keep and answer alike: the realm, the
// filters, the membership source and the attribute names, each either
// configured or the flavour's default.
type flavourBase struct {
	realm, userFilter, groupFilter, membership string
	a                                          AttributeNames
}

// defaults are a flavour's choices where the configuration is silent.
type defaults struct {
	attrs                               AttributeNames
	userFilter, groupFilter, membership string
}

func newFlavourBase(o FlavourOptions, d defaults) flavourBase {
	return flavourBase{
		realm:       o.Realm,
		userFilter:  orDefault(o.UserFilter, d.userFilter),
		groupFilter: orDefault(o.GroupFilter, d.groupFilter),
		membership:  orDefault(o.Membership, d.membership),
		a:           o.Attributes.withDefaults(d.attrs),
	}
}

// Membership implements Flavour.
func (f *flavourBase) Membership() string { return f.membership }

// UserFilter implements Flavour.
func (f *flavourBase) UserFilter() string { return f.userFilter }

// GroupFilter implements Flavour.
func (f *flavourBase) GroupFilter() string { return f.groupFilter }

func orDefault(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// normDN canonicalises a DN for map keys: attribute types and values
// lower-cased, spacing removed. An unparsable DN is lower-cased as is.
func normDN(dn string) string {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var b strings.Builder
	for i, rdn := range d.RDNs {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, a := range rdn.Attributes {
			if j > 0 {
				b.WriteByte('+')
			}
			// Real types are plain descriptors or OIDs; escaping keeps odd
			// ones (which ParseDN unescapes) stable under re-parsing.
			b.WriteString(ldap.EscapeDN(strings.ToLower(a.Type)))
			b.WriteByte('=')
			b.WriteString(ldap.EscapeDN(strings.ToLower(a.Value)))
		}
	}
	return b.String()
}

// singleValue returns the attribute's only value; "" when absent; an error
// when it has several.
func singleValue(e *ldap.Entry, attr string) (string, error) {
	vals := e.GetEqualFoldAttributeValues(attr)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", entryErr(e, attr, "%d values, want one", len(vals))
}

// requiredValue is singleValue that also fails when the attribute is absent or empty.
func requiredValue(e *ldap.Entry, attr string) (string, error) {
	v, err := singleValue(e, attr)
	if err == nil && v == "" {
		err = entryErr(e, attr, "missing")
	}
	return v, err
}

// nameValue reads a naming attribute that the schema allows to be
// multi-valued (uid, cn): one value, or among several the one in the RDN.
func nameValue(e *ldap.Entry, attr string) (string, error) {
	vals := e.GetEqualFoldAttributeValues(attr)
	switch len(vals) {
	case 0:
		return "", entryErr(e, attr, "missing")
	case 1:
		return vals[0], nil
	}
	if d, err := ldap.ParseDN(e.DN); err == nil && len(d.RDNs) > 0 {
		for _, a := range d.RDNs[0].Attributes {
			for _, v := range vals {
				if strings.EqualFold(a.Type, attr) && a.Value == v {
					return v, nil
				}
			}
		}
	}
	return "", entryErr(e, attr, "%d values and none is the RDN", len(vals))
}

func uniqueAttrs(attrs ...string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(attrs))
	for _, a := range attrs {
		k := strings.ToLower(a)
		if a == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, a)
	}
	return out
}
