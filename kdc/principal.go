package kdc

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/pac"
)

// TicketKey is a long-term key a ticket is encrypted with, and its full
// 32-bit key version number. For an RODC krbtgt_N account the kvno is
// N<<16 | version (as in the keytab Samba exports); for any other key the high
// 16 bits are zero.
type TicketKey struct {
	Key  types.EncryptionKey
	KVNO uint32
	// derived: the usage keys derived from Key (WithDerivedKeys); nil
	// derives them for each ticket.
	derived *derivedKeys
}

// RODCNumber returns N of krbtgt_N (KVNO>>16); 0 for a key that is not an
// RODC krbtgt key.
func (k TicketKey) RODCNumber() uint16 { return uint16(k.KVNO >> 16) }

// WireKVNO returns the kvno as it goes into EncryptedData.kvno: the 32 bits
// read as a signed Int32 (RFC 4120 UInt32 is encoded by AD as Int32), so an
// RODC number >= 32768 gives a negative value, encoded in 4 bytes.
func (k TicketKey) WireKVNO() int { return int(int32(k.KVNO)) }

func (k TicketKey) validate() error {
	want := 0
	switch k.Key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		want = 16
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		want = 32
	default:
		return fmt.Errorf("%w: encryption type %d (need 17 or 18)", ErrUnsupportedKey, k.Key.KeyType)
	}
	if len(k.Key.KeyValue) != want {
		return fmt.Errorf("%w: %d-byte key for encryption type %d", ErrUnsupportedKey, len(k.Key.KeyValue), k.Key.KeyType)
	}
	return nil
}

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
	return strings.ToUpper(strings.SplitN(p.Realm, ".", 2)[0])
}

// Policy holds ticket lifetimes.
type Policy struct {
	// Lifetime is endtime - authtime; must be positive.
	Lifetime time.Duration
	// RenewLifetime is renew-till - authtime; 0 makes the ticket not
	// renewable, otherwise it must be at least Lifetime.
	RenewLifetime time.Duration
}

// Default lifetimes, as a Windows DC's default policy.
const (
	DefaultLifetime      = 10 * time.Hour
	DefaultRenewLifetime = 7 * 24 * time.Hour
)

// DefaultPolicy returns the default policy: 10 h lifetime, 7 d renewal.
func DefaultPolicy() Policy {
	return Policy{Lifetime: DefaultLifetime, RenewLifetime: DefaultRenewLifetime}
}

func (p Policy) validate() error {
	if p.Lifetime < time.Second {
		return fmt.Errorf("%w: lifetime %v", ErrInvalidPolicy, p.Lifetime)
	}
	if p.RenewLifetime < 0 || (p.RenewLifetime > 0 && p.RenewLifetime < p.Lifetime) {
		return fmt.Errorf("%w: renew lifetime %v shorter than lifetime %v", ErrInvalidPolicy, p.RenewLifetime, p.Lifetime)
	}
	return nil
}
