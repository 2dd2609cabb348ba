package keytabs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/krbname"
)

// ErrBadPrincipal is returned (wrapped) for a principal name that cannot be
// parsed or cannot be stored in a keytab.
var ErrBadPrincipal = errors.New("keytabs: bad principal name")

// errNoRealm is wrapped, with ErrBadPrincipal, for a name without a realm.
var errNoRealm = errors.New("no realm")

// maxField is the largest length of a counted string, and the largest
// component count, that MIT readers accept (they read these as int16).
const maxField = 1<<15 - 1

// tgsName is the first component of ticket-granting service principals.
const tgsName = "krbtgt"

// Principal is a Kerberos principal name as stored in a keytab.
type Principal struct {
	// Realm is the realm, e.g. "CORP.EXAMPLE.TEST".
	Realm string
	// Components are the name components, e.g. ["krbtgt", "CORP.EXAMPLE.TEST"].
	Components []string
	// NameType is the name type (KRB5_NT_*); 0 (unknown) in 0x501 keytabs.
	NameType int32
}

// NewPrincipal returns a principal of the given realm and components, with the
// name type MIT's krb5_parse_name would choose (see ParsePrincipal).
func NewPrincipal(realm string, components ...string) Principal {
	p := Principal{Realm: realm, Components: append([]string(nil), components...)}
	p.NameType = defaultNameType(p.Components)
	return p
}

// PrincipalFromName converts a gokrb5 principal name and a realm.
func PrincipalFromName(pn types.PrincipalName, realm string) Principal {
	return Principal{
		Realm:      realm,
		Components: append([]string(nil), pn.NameString...),
		NameType:   pn.NameType,
	}
}

// PrincipalName converts p to gokrb5's PrincipalName (the realm is dropped).
func (p Principal) PrincipalName() types.PrincipalName {
	return types.PrincipalName{
		NameType:   p.NameType,
		NameString: append([]string(nil), p.Components...),
	}
}

// Equal reports whether p and q name the same principal for keytab purposes:
// the realm is compared case-insensitively (realms are DNS names in AD), the
// components exactly (as MIT's krb5_principal_compare does) and the name type
// is ignored (as MIT does).
func (p Principal) Equal(q Principal) bool {
	if !strings.EqualFold(p.Realm, q.Realm) || len(p.Components) != len(q.Components) {
		return false
	}
	for i := range p.Components {
		if p.Components[i] != q.Components[i] {
			return false
		}
	}
	return true
}

// identity returns a map key such that identity(p) == identity(q) exactly
// when p.Equal(q).
func (p Principal) identity() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d:%s", len(p.Realm), strings.ToUpper(p.Realm))
	for _, c := range p.Components {
		fmt.Fprintf(&b, "|%d:%s", len(c), c)
	}
	return b.String()
}

// Validate reports whether p can be stored in a keytab: a non-empty realm,
// at least one component, no empty component and no field longer than 32767
// bytes (the limits MIT readers enforce).
func (p Principal) Validate() error {
	if p.Realm == "" {
		return fmt.Errorf("%w: empty realm", ErrBadPrincipal)
	}
	if len(p.Realm) > maxField {
		return fmt.Errorf("%w: realm longer than %d bytes", ErrBadPrincipal, maxField)
	}
	if len(p.Components) == 0 || len(p.Components) > maxField {
		return fmt.Errorf("%w: %d components", ErrBadPrincipal, len(p.Components))
	}
	for i, c := range p.Components {
		if c == "" || len(c) > maxField {
			return fmt.Errorf("%w: component %d has length %d", ErrBadPrincipal, i, len(c))
		}
	}
	return nil
}

// String returns the principal in MIT's unparsed form, "a/b@REALM", with
// '/', '@', '\\' and control characters escaped as krb5_unparse_name does.
func (p Principal) String() string { return krbname.Unparse(p.Components, p.Realm) }

// ParsePrincipal parses "a/b@REALM" with MIT's escaping rules (a backslash
// escapes '/', '@' and '\\'; \n, \t, \b and \0 stand for control characters;
// '/' is literal inside the realm). The realm is required. The name type is
// KRB5_NT_SRV_INST for "krbtgt/X" and KRB5_NT_PRINCIPAL otherwise, as
// krb5_parse_name chooses.
func ParsePrincipal(s string) (Principal, error) {
	comps, realm, hasRealm, err := krbname.Parse(s)
	switch {
	case err != nil:
		return Principal{}, fmt.Errorf("%w: %w", ErrBadPrincipal, err)
	case !hasRealm:
		return Principal{}, fmt.Errorf("%w: %q: %w", ErrBadPrincipal, s, errNoRealm)
	}
	p := Principal{Realm: realm, Components: comps, NameType: defaultNameType(comps)}
	if err := p.Validate(); err != nil {
		return Principal{}, fmt.Errorf("parse %q: %w", s, err)
	}
	return p, nil
}

func defaultNameType(comps []string) int32 {
	if len(comps) == 2 && comps[0] == tgsName {
		return nametype.KRB_NT_SRV_INST
	}
	return nametype.KRB_NT_PRINCIPAL
}
