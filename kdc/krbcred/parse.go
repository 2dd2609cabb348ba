package krbcred

import (
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/ccache"
	"github.com/passkdc/passkdc/kdc/internal/aescts"
)

// Parse decodes a KRB-CRED message. With a nil key the enc-part must be in
// clear (etype 0), else ErrKeyRequired; with a key it must be encrypted
// with the key's etype (ErrNotEncrypted, ErrEtypeMismatch) and decrypt with
// key usage 14 (ErrDecrypt). A caller that expects encryption therefore
// never accepts a clear-text message by accident.
func Parse(b []byte, key *types.EncryptionKey) (*Cred, error) {
	var w krbCredWire
	rest, err := asn1.UnmarshalWithParams(b, &w, fmt.Sprintf("application,explicit,tag:%d", appTagKRBCred))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	if w.PVNO != pvno || w.MsgType != msgTypeKRBCred {
		return nil, fmt.Errorf("%w: pvno %d msg-type %d, want 5 and 22", ErrMalformed, w.PVNO, w.MsgType)
	}
	c := &Cred{}
	if c.Tickets, err = parseTickets(w.Tickets); err != nil {
		return nil, fmt.Errorf("%w: tickets: %w", ErrMalformed, err)
	}
	plain, err := openEncPart(w.EncPart, key)
	if err != nil {
		return nil, err
	}
	if err := c.parseEncPart(plain); err != nil {
		return nil, err
	}
	if len(c.Infos) != len(c.Tickets) {
		return nil, fmt.Errorf("%w: %d tickets but %d ticket-info entries", ErrMalformed, len(c.Tickets), len(c.Infos))
	}
	return c, nil
}

// parseTickets unwraps [2] SEQUENCE OF Ticket and returns each Ticket's DER.
func parseTickets(rv asn1.RawValue) ([][]byte, error) {
	if rv.Class != asn1.ClassContextSpecific || rv.Tag != 2 || !rv.IsCompound {
		return nil, fmt.Errorf("field has class %d tag %d, want [2]", rv.Class, rv.Tag)
	}
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(rv.Bytes, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, fmt.Errorf("[2] does not hold exactly one SEQUENCE")
	}
	return splitElements(seq.Bytes, appTagTicket)
}

// openEncPart returns the DER EncKrbCredPart, decrypting it if needed.
func openEncPart(ed types.EncryptedData, key *types.EncryptionKey) ([]byte, error) {
	if ed.EType == 0 {
		if key != nil {
			return nil, ErrNotEncrypted
		}
		return ed.Cipher, nil
	}
	if key == nil {
		return nil, fmt.Errorf("%w (etype %d)", ErrKeyRequired, ed.EType)
	}
	if key.KeyType != ed.EType {
		return nil, fmt.Errorf("%w: enc-part etype %d, key etype %d", ErrEtypeMismatch, ed.EType, key.KeyType)
	}
	return decrypt(ed, *key)
}

// decrypt checks the sizes gokrb5 assumes (it slices without checking and
// panics on short input) before decrypting with key usage 14: AES keys with
// package aescts (the keys derived once, the buffers sized), others with
// gokrb5.
func decrypt(ed types.EncryptedData, key types.EncryptionKey) (plain []byte, err error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	if n := keySize(et); len(key.KeyValue) != n {
		return nil, fmt.Errorf("%w: key is %d bytes, etype %d needs %d", ErrDecrypt, len(key.KeyValue), key.KeyType, n)
	}
	if minLen := et.GetConfounderByteSize() + et.GetHMACBitLength()/8; len(ed.Cipher) < minLen {
		return nil, fmt.Errorf("%w: cipher is %d bytes, etype %d needs at least %d", ErrDecrypt, len(ed.Cipher), key.KeyType, minLen)
	}
	if aescts.Supported(key.KeyType) {
		return decryptAES(ed.Cipher, key)
	}
	defer func() {
		if r := recover(); r != nil {
			plain, err = nil, fmt.Errorf("%w: decryption failed on malformed cipher text", ErrDecrypt)
		}
	}()
	plain, err = crypto.DecryptEncPart(ed, key, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return plain, nil
}

// decryptAES opens an AES enc-part with key usage 14.
func decryptAES(ct []byte, key types.EncryptionKey) ([]byte, error) {
	k, err := aescts.Derive(key.KeyType, key.KeyValue, keyusage.KRB_CRED_ENCPART)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	plain, err := k.Decrypt(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return plain, nil
}

func (c *Cred) parseEncPart(b []byte) error {
	var w encKrbCredPartWire
	rest, err := asn1.UnmarshalWithParams(b, &w, fmt.Sprintf("application,explicit,tag:%d", appTagEncKrbCredPart))
	if err != nil {
		return fmt.Errorf("%w: EncKrbCredPart: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: EncKrbCredPart: %d trailing bytes", ErrMalformed, len(rest))
	}
	c.Nonce, c.Timestamp, c.Usec = w.Nonce, utc(w.Timestamp), w.Usec
	c.SAddress, c.RAddress = optionalAddress(w.SAddress), optionalAddress(w.RAddress)
	for _, iw := range w.TicketInfo {
		c.Infos = append(c.Infos, infoFromWire(iw))
	}
	return nil
}

func infoFromWire(w krbCredInfoWire) Info {
	i := Info{
		Key:       w.Key,
		PRealm:    w.PRealm,
		PName:     w.PName,
		Flags:     ccache.FlagsFromBitString(w.Flags),
		AuthTime:  utc(w.AuthTime),
		StartTime: utc(w.StartTime),
		EndTime:   utc(w.EndTime),
		RenewTill: utc(w.RenewTill),
		SRealm:    w.SRealm,
		SName:     w.SName,
	}
	if len(w.CAddr) > 0 {
		i.CAddr = w.CAddr
	}
	return i
}

func optionalAddress(a types.HostAddress) *types.HostAddress {
	if a.AddrType == 0 && len(a.Address) == 0 {
		return nil
	}
	return &a
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// keySize is the key length of an etype. gokrb5 v8.4.4 reports 24 bytes for
// aes256-cts-hmac-sha384-192 although its own code (and RFC 8009) uses 32.
func keySize(et etype.EType) int {
	if et.GetETypeID() == etypeID.AES256_CTS_HMAC_SHA384_192 {
		return 32
	}
	return et.GetKeyByteSize()
}
