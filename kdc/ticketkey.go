package kdc

import (
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
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

// TicketPolicy holds ticket lifetimes.
type TicketPolicy struct {
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

// DefaultTicketPolicy returns the default policy: 10 h lifetime, 7 d renewal.
func DefaultTicketPolicy() TicketPolicy {
	return TicketPolicy{Lifetime: DefaultLifetime, RenewLifetime: DefaultRenewLifetime}
}

func (p TicketPolicy) validate() error {
	if p.Lifetime < time.Second {
		return fmt.Errorf("%w: lifetime %v", ErrInvalidPolicy, p.Lifetime)
	}
	if p.RenewLifetime < 0 || (p.RenewLifetime > 0 && p.RenewLifetime < p.Lifetime) {
		return fmt.Errorf("%w: renew lifetime %v shorter than lifetime %v", ErrInvalidPolicy, p.RenewLifetime, p.Lifetime)
	}
	return nil
}
