// Package krbcred encodes and decodes KRB-CRED messages (RFC 4120 §5.8),
// the format that carries tickets with their session keys from passkdc to
// passkinit.
//
// The ASN.1 structures are this package's own: every Realm is a
// GeneralString, as MIT requires, and tickets are carried as their original
// DER bytes. The enc-part is either encrypted with key usage 14
// (KRB_CRED enc-part) or, without a key, stored in clear with etype 0, as MIT
// does for credentials that never leave the host (RFC 6448).
package krbcred

import (
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/internal/aescts"
)

// Errors returned by Parse and Marshal; the parse and encode errors wrap
// the underlying cause.
var (
	// ErrMalformed: the bytes are not a well-formed KRB-CRED.
	ErrMalformed = errors.New("krbcred: malformed KRB-CRED")
	// ErrInvalid: a Cred cannot be encoded (bad ticket DER, counts differ, ...).
	ErrInvalid = errors.New("krbcred: invalid credential")
	// ErrKeyRequired: the enc-part is encrypted and no key was given.
	ErrKeyRequired = errors.New("krbcred: enc-part is encrypted and no key was given")
	// ErrNotEncrypted: a key was given but the enc-part is in clear (etype 0).
	ErrNotEncrypted = errors.New("krbcred: a key was given but the enc-part is not encrypted")
	// ErrEtypeMismatch: the enc-part etype differs from the key's.
	ErrEtypeMismatch = errors.New("krbcred: enc-part etype does not match the key")
	// ErrDecrypt: decryption or its integrity check failed (wrong key).
	ErrDecrypt = errors.New("krbcred: cannot decrypt enc-part")
)

// Info is one KrbCredInfo: what the holder of a ticket needs besides the
// ticket. Zero values are the absent OPTIONAL fields.
type Info struct {
	// Key is the ticket's session key.
	Key types.EncryptionKey
	// PRealm and PName are the client principal.
	PRealm string
	PName  types.PrincipalName
	// Flags are the ticket flags in the ccache bit order (see
	// ccache.FlagsToBitString); 0 omits the field.
	Flags uint32
	// AuthTime, StartTime, EndTime and RenewTill are encoded as UTC
	// KerberosTime with whole seconds.
	AuthTime, StartTime, EndTime, RenewTill time.Time
	// SRealm and SName are the service principal.
	SRealm string
	SName  types.PrincipalName
	// CAddr are the ticket's client addresses.
	CAddr []types.HostAddress
}

// Cred is a KRB-CRED message: tickets and, at the same index, their Info.
type Cred struct {
	// Tickets are DER-encoded Tickets ([APPLICATION 1]), carried unchanged.
	Tickets [][]byte
	// Infos describe Tickets one for one.
	Infos []Info
	// Nonce, Timestamp and Usec are the optional replay-protection fields of
	// EncKrbCredPart; zero omits them.
	Nonce     int32
	Timestamp time.Time
	Usec      int32
	// SAddress and RAddress are the optional sender and recipient addresses.
	SAddress, RAddress *types.HostAddress
}

// Marshal encodes c as KRB-CRED. With a nil key the enc-part has etype 0
// and holds the DER EncKrbCredPart in clear; otherwise it is encrypted with
// key and key usage 14.
func (c *Cred) Marshal(key *types.EncryptionKey) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	buf, err := c.marshalEncPart()
	if err != nil {
		return nil, err
	}
	ed := types.EncryptedData{EType: 0, Cipher: buf[aescts.Prefix:]}
	if key != nil {
		if ed, err = encrypt(buf, *key); err != nil {
			return nil, fmt.Errorf("%w: encrypt enc-part: %w", ErrInvalid, err)
		}
	}
	b, err := c.marshalOuter(ed)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return b, nil
}

// encrypt seals the enc-part, encoded after the aescts.Prefix bytes of buf,
// with key (usage 14): AES keys derive their usage keys once here (a
// KRB-CRED key is fresh per seal) and encrypt in buf's memory, others go
// through gokrb5.
func encrypt(buf []byte, key types.EncryptionKey) (types.EncryptedData, error) {
	if !aescts.Supported(key.KeyType) {
		return crypto.GetEncryptedData(buf[aescts.Prefix:], key, keyusage.KRB_CRED_ENCPART, 0)
	}
	k, err := aescts.Derive(key.KeyType, key.KeyValue, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		return types.EncryptedData{}, err
	}
	ct, err := k.EncryptPrefixed(buf)
	if err != nil {
		return types.EncryptedData{}, err
	}
	return types.EncryptedData{EType: key.KeyType, Cipher: ct}, nil
}

func (c *Cred) validate() error {
	if len(c.Tickets) != len(c.Infos) {
		return fmt.Errorf("%w: %d tickets but %d infos", ErrInvalid, len(c.Tickets), len(c.Infos))
	}
	for i, t := range c.Tickets {
		if err := checkTicketDER(t); err != nil {
			return fmt.Errorf("%w: ticket %d: %w", ErrInvalid, i, err)
		}
	}
	return nil
}

// marshalEncPart is the DER EncKrbCredPart after aescts.Prefix bytes.
func (c *Cred) marshalEncPart() ([]byte, error) {
	var one [1]krbCredInfoWire // the usual single ticket's, on the stack
	b, err := marshalEncPartDER(aescts.Prefix, c.encPartWire(one[:0]))
	if err != nil {
		return nil, fmt.Errorf("%w: encode EncKrbCredPart: %w", ErrInvalid, err)
	}
	return b, nil
}

// encPartWire is the EncKrbCredPart of c in its wire struct, its ticket
// infos appended to infos.
func (c *Cred) encPartWire(infos []krbCredInfoWire) encKrbCredPartWire {
	w := encKrbCredPartWire{
		Nonce:     c.Nonce,
		Timestamp: kerberosTime(c.Timestamp),
		Usec:      c.Usec,
	}
	if c.SAddress != nil {
		w.SAddress = *c.SAddress
	}
	if c.RAddress != nil {
		w.RAddress = *c.RAddress
	}
	for i := range c.Infos {
		infos = append(infos, c.Infos[i].wire())
	}
	w.TicketInfo = infos
	return w
}

func (i *Info) wire() krbCredInfoWire {
	w := krbCredInfoWire{
		Key:       i.Key,
		PRealm:    i.PRealm,
		PName:     normalName(i.PName),
		AuthTime:  kerberosTime(i.AuthTime),
		StartTime: kerberosTime(i.StartTime),
		EndTime:   kerberosTime(i.EndTime),
		RenewTill: kerberosTime(i.RenewTill),
		SRealm:    i.SRealm,
		SName:     normalName(i.SName),
	}
	if i.Flags != 0 {
		w.Flags = ccache.FlagsToBitString(i.Flags)
	}
	if len(i.CAddr) > 0 {
		w.CAddr = i.CAddr
	}
	return w
}

// normalName maps an empty name to the zero value so that it is omitted.
func normalName(n types.PrincipalName) types.PrincipalName {
	if n.NameType == 0 && len(n.NameString) == 0 {
		return types.PrincipalName{}
	}
	return n
}

// kerberosTime converts to UTC whole seconds (the zero time stays zero).
func kerberosTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Second)
}

// marshalOuter builds [APPLICATION 22] SEQUENCE { pvno, msg-type, tickets,
// enc-part } with the tickets' DER copied verbatim.
func (c *Cred) marshalOuter(ed types.EncryptedData) ([]byte, error) {
	return marshalOuterDER(c.Tickets, ed)
}
