// Package ccache reads and writes MIT Kerberos credential caches of type FILE.
//
// The writer produces file format version 4 (0x0504) with a header holding
// the KDC time offset tag (DeltaTime), as MIT kinit does; version 3 can be
// written on request. The reader accepts versions 3 and 4 and refuses the
// host-byte-order versions 1 and 2. The layout follows MIT's
// doc/formats/ccache_file_format.rst: all integers are big-endian, every
// variable-length field is a 32-bit length followed by its bytes, and the
// credentials follow the default principal until the end of the file.
//
// Configuration entries (server realm "X-CACHECONF:") are ordinary
// credentials in the file; see [CCache.Config] and [CCache.SetConfig].
package ccache

import (
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/krbname"
)

// File format versions understood by this package (the second byte of the
// file; the first byte is always 5).
const (
	Version3 uint8 = 3
	Version4 uint8 = 4
)

// headerTagDeltaTime is the version-4 header field carrying the KDC time
// offset: two 32-bit integers, seconds and microseconds.
const headerTagDeltaTime = 1

// ErrMalformed is wrapped by every error returned for truncated or garbled
// cache bytes.
var ErrMalformed = errors.New("ccache: malformed credential cache")

// ErrInvalid is wrapped by every error returned by Marshal for a CCache whose
// fields cannot be represented in the file format.
var ErrInvalid = errors.New("ccache: value cannot be encoded")

// VersionError reports a cache file format version this package does not
// read or write.
type VersionError struct {
	// Version is the second byte of the file (1 to 4 are MIT versions).
	Version uint8
}

// Error implements error.
func (e *VersionError) Error() string {
	if e.Version == 1 || e.Version == 2 {
		return fmt.Sprintf("ccache: file format version %d (host byte order) is not supported; only versions 3 and 4 are", e.Version)
	}
	return fmt.Sprintf("ccache: unknown file format version %d", e.Version)
}

// Principal is a Kerberos principal as stored in a credential cache.
type Principal struct {
	// Realm of the principal.
	Realm string
	// NameType is the name type (1 = KRB5_NT_PRINCIPAL, 2 = KRB5_NT_SRV_INST, ...).
	NameType int32
	// Components are the name components, e.g. ["krbtgt", "REALM"].
	Components []string
}

// NewPrincipal builds a Principal from a gokrb5 principal name and a realm.
func NewPrincipal(realm string, name types.PrincipalName) Principal {
	return Principal{
		Realm:      realm,
		NameType:   name.NameType,
		Components: append([]string(nil), name.NameString...),
	}
}

// PrincipalName returns the name part as a gokrb5 PrincipalName.
func (p Principal) PrincipalName() types.PrincipalName {
	return types.PrincipalName{
		NameType:   p.NameType,
		NameString: append([]string(nil), p.Components...),
	}
}

// IsZero reports whether p has no realm and no components.
func (p Principal) IsZero() bool {
	return p.Realm == "" && len(p.Components) == 0
}

// Equal reports whether p and o have the same realm, name type and components.
func (p Principal) Equal(o Principal) bool {
	if p.Realm != o.Realm || p.NameType != o.NameType || len(p.Components) != len(o.Components) {
		return false
	}
	for i := range p.Components {
		if p.Components[i] != o.Components[i] {
			return false
		}
	}
	return true
}

// String returns the principal in MIT's unparsed form, e.g.
// "krbtgt/EXAMPLE.COM@EXAMPLE.COM" (escaping as krbname.Unparse).
func (p Principal) String() string { return krbname.Unparse(p.Components, p.Realm) }

// Credential is one entry of a credential cache: a ticket with its session
// key and metadata, or a configuration entry (see IsConfig).
type Credential struct {
	// Client is the ticket's client principal.
	Client Principal
	// Server is the ticket's service principal.
	Server Principal
	// Key is the session key. Its KeyType is stored in 16 bits.
	Key types.EncryptionKey
	// AuthTime, StartTime, EndTime and RenewTill are stored as unsigned 32-bit
	// seconds since the epoch; the zero time.Time stands for 0 (unset).
	AuthTime, StartTime, EndTime, RenewTill time.Time
	// IsSKey is set for a ticket encrypted in the session key of a second
	// ticket (user-to-user).
	IsSKey bool
	// Flags are the ticket flags in MIT's in-memory order: KerberosFlags bit 0
	// is the most significant bit, so forwardable is 0x40000000. See
	// FlagsFromBitString and FlagsToBitString.
	Flags uint32
	// Addresses are the client addresses of the ticket (address type in 16 bits).
	Addresses []types.HostAddress
	// AuthData is the ticket's authorization data (ad-type in 16 bits).
	AuthData []types.AuthorizationDataEntry
	// Ticket is the DER encoding of the Ticket, or the value of a
	// configuration entry.
	Ticket []byte
	// SecondTicket is the DER encoding of the additional ticket, if any.
	SecondTicket []byte
}

// CCache is the content of an MIT FILE credential cache.
type CCache struct {
	// Version is the file format version: Version4 or Version3. Parse sets it;
	// Marshal writes Version4 when it is zero.
	Version uint8
	// TimeOffset is the KDC clock minus the local clock, kept in the
	// version-4 DeltaTime header field with microsecond precision.
	TimeOffset time.Duration
	// DefaultPrincipal is the client principal the cache belongs to.
	DefaultPrincipal Principal
	// Credentials are the cached credentials, configuration entries included,
	// in file order.
	Credentials []Credential
}
