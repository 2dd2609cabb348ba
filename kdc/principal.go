package kdc

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/passkdc/passkdc/kdc/pac"
)

// Principal is what the issuer needs to know about a client.
type Principal struct {
	// Name is the sAMAccountName, used as the single-component cname and
	// as the PAC client name.
	Name string
	// Realm is the Kerberos realm (upper case, e.g. CORP.EXAMPLE.TEST).
	Realm string
	// SID is the user's objectSid: domain SID + RID.
	SID pac.SID
	// UPN is the userPrincipalName; empty means "none", and the PAC then
	// carries the constructed Name@dnsdomain with the U flag, as a DC does.
	UPN string
	// DNSDomain is the AD DNS domain name; empty means Realm.
	DNSDomain string
	// NetBIOSDomain is the NetBIOS domain name; empty means the first
	// label of the realm.
	NetBIOSDomain string
	// DisplayName is the optional full name (LOGON_INFO FullName).
	DisplayName string
	// PrimaryGroupRID is the primary group; 0 means 513 (Domain Users).
	PrimaryGroupRID uint32
	// Groups are optional further group SIDs: those in the user's domain
	// go to LOGON_INFO GroupIds, others to ExtraSids. A DC that trades a
	// partial TGT rebuilds the groups from its directory anyway.
	Groups []pac.SID
}

// maxNameLen bounds Name; sAMAccountName is at most 256 characters.
const maxNameLen = 256

func (p Principal) validate() error {
	if err := validateComponent("client name", p.Name); err != nil {
		return err
	}
	if len([]rune(p.Name)) > maxNameLen {
		return fmt.Errorf("%w: client name longer than %d characters", ErrInvalidPrincipal, maxNameLen)
	}
	if err := validateComponent("realm", p.Realm); err != nil {
		return err
	}
	if !p.SID.IsDomainAccount() {
		return fmt.Errorf("%w: %q is not a domain account SID (S-1-5-21-x-y-z-RID)", ErrInvalidSID, p.SID.String())
	}
	// The PAC carries these as UTF-16: invalid UTF-8 would be silently
	// replaced, and the DC would see a name the directory does not have.
	for what, v := range map[string]string{"UPN": p.UPN, "DNS domain": p.DNSDomain,
		"NetBIOS domain": p.NetBIOSDomain, "display name": p.DisplayName} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return fmt.Errorf("%w: %s %q is not valid UTF-8 without NUL", ErrInvalidPrincipal, what, v)
		}
	}
	for _, g := range p.Groups {
		if err := g.Validate(); err != nil || len(g.SubAuthorities) == 0 {
			return fmt.Errorf("%w: group %q", ErrInvalidSID, g.String())
		}
	}
	return nil
}

// validateComponent refuses empty names and characters that would make the
// unparsed principal differ from the component (/, @, \) or that no
// directory allows (control characters). Heimdal compares the PAC client
// name with the unparsed cname byte for byte.
func validateComponent(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidPrincipal, what)
	}
	for _, r := range s {
		if r == '/' || r == '@' || r == '\\' || unicode.IsControl(r) || r == unicode.ReplacementChar {
			return fmt.Errorf("%w: %s %q contains %q", ErrInvalidPrincipal, what, s, r)
		}
	}
	return nil
}

func (p Principal) dnsDomain() string {
	if p.DNSDomain != "" {
		return p.DNSDomain
	}
	return p.Realm
}

func (p Principal) netBIOSDomain() string {
	if p.NetBIOSDomain != "" {
		return p.NetBIOSDomain
	}
	label, _, _ := strings.Cut(p.Realm, ".")
	return strings.ToUpper(label)
}
