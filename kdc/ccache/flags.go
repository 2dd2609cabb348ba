package ccache

import (
	"encoding/binary"

	"github.com/jcmturner/gofork/encoding/asn1"
)

// Ticket flags in the order MIT stores them in a cache (RFC 4120 §5.3
// TicketFlags bit n is the bit 0x80000000>>n).
const (
	FlagReserved               uint32 = 0x80000000
	FlagForwardable            uint32 = 0x40000000
	FlagForwarded              uint32 = 0x20000000
	FlagProxiable              uint32 = 0x10000000
	FlagProxy                  uint32 = 0x08000000
	FlagMayPostdate            uint32 = 0x04000000
	FlagPostdated              uint32 = 0x02000000
	FlagInvalid                uint32 = 0x01000000
	FlagRenewable              uint32 = 0x00800000
	FlagInitial                uint32 = 0x00400000
	FlagPreAuthent             uint32 = 0x00200000
	FlagHWAuthent              uint32 = 0x00100000
	FlagTransitedPolicyChecked uint32 = 0x00080000
	FlagOKAsDelegate           uint32 = 0x00040000
	FlagEncPARep               uint32 = 0x00010000
	FlagAnonymous              uint32 = 0x00008000
)

// FlagsFromBitString converts ASN.1 KerberosFlags (as in EncTicketPart or
// KrbCredInfo) to the 32-bit value stored in a cache. Bits beyond the first
// 32 are ignored; missing bits count as clear.
func FlagsFromBitString(b asn1.BitString) uint32 {
	var f uint32
	for i := 0; i < 32; i++ {
		if b.At(i) == 1 {
			f |= 0x80000000 >> uint(i)
		}
	}
	return f
}

// FlagsToBitString converts a cache flags value to 32-bit ASN.1
// KerberosFlags, the minimum length RFC 4120 requires.
func FlagsToBitString(f uint32) asn1.BitString {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, f)
	return asn1.BitString{Bytes: b, BitLength: 32}
}
