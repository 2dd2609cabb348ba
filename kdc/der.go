package kdc

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/adtype"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"

	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/passkdc/passkdc/kdc/internal/krbder"
)

// DER encoding of EncTicketPart and Ticket without reflection, each in one
// buffer with its [APPLICATION n] tag. The ticket's enc-part is encoded
// twice per ticket (once with the PAC swapped for the ticket checksum, once
// for real); the reflection-based encoder was the largest single cost of
// issuing after the cryptography. The output is byte-for-byte what
// asn1.Marshal and asn1tools.AddASNAppTag give (tested), with times in UTC.

// marshalEncTicketPart is the DER EncTicketPart with its [APPLICATION 3]
// tag. With pac non-nil, the authorization data is the PAC as a DC wraps it,
// AD-IF-RELEVANT [ AD-WIN2K-PAC pac ], and p.AuthorizationData is ignored.
func marshalEncTicketPart(p encTicketPart, pac []byte) ([]byte, error) {
	return encodeEncTicketPart(p, pac, 0, 0)
}

// encodeEncTicketPart is marshalEncTicketPart after prefix zero bytes, in a
// buffer with slack bytes of room after it (for encryption in place).
func encodeEncTicketPart(p encTicketPart, pac []byte, prefix, slack int) ([]byte, error) {
	size := prefix + 256 + len(p.Key.KeyValue) + len(p.CRealm) + len(pac) + slack
	for _, c := range p.CName.NameString {
		size += 2 + len(c)
	}
	for _, ad := range p.AuthorizationData {
		size += 16 + len(ad.ADData)
	}
	b := krbder.NewBuilder(make([]byte, prefix, size)) // one buffer, sized up front
	b.AddASN1(krbder.Application(asnAppTag.EncTicketPart), func() {
		b.AddASN1(cbasn1.SEQUENCE, func() { addEncTicketPart(b, p, pac) })
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal EncTicketPart: %w", err)
	}
	return out, nil
}

// addEncTicketPart adds the fields of the EncTicketPart SEQUENCE.
func addEncTicketPart(b *krbder.Builder, p encTicketPart, pac []byte) {
	krbder.Explicit(b, 0, func() {
		b.AddASN1(cbasn1.BIT_STRING, func() {
			b.AddUint8(uint8((8 - p.Flags.BitLength%8) % 8)) // unused bits
			b.AddBytes(p.Flags.Bytes)
		})
	})
	krbder.Explicit(b, 1, func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			krbder.Int(b, 0, int64(p.Key.KeyType))
			krbder.Octets(b, 1, p.Key.KeyValue)
		})
	})
	krbder.Explicit(b, 2, func() { krbder.GeneralString(b, p.CRealm) })
	krbder.PrincipalName(b, 3, p.CName)
	krbder.Explicit(b, 4, func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			krbder.Int(b, 0, int64(p.Transited.TRType))
			krbder.Octets(b, 1, p.Transited.Contents)
		})
	})
	krbder.Time(b, 5, p.AuthTime)
	if !p.StartTime.IsZero() {
		krbder.Time(b, 6, p.StartTime)
	}
	krbder.Time(b, 7, p.EndTime)
	if !p.RenewTill.IsZero() {
		krbder.Time(b, 8, p.RenewTill)
	}
	switch {
	case pac != nil:
		krbder.Explicit(b, 10, func() { addPACAuthData(b, pac) })
	case p.AuthorizationData != nil:
		krbder.Explicit(b, 10, func() {
			b.AddASN1(cbasn1.SEQUENCE, func() {
				for _, ad := range p.AuthorizationData {
					addADEntry(b, ad.ADType, func() { b.AddBytes(ad.ADData) })
				}
			})
		})
	}
}

// addPACAuthData adds the AuthorizationData AD-IF-RELEVANT [ AD-WIN2K-PAC
// pac ]: the inner AuthorizationData is the ad-data of the outer entry.
func addPACAuthData(b *krbder.Builder, pac []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func() {
		addADEntry(b, adtype.ADIfRelevant, func() {
			b.AddASN1(cbasn1.SEQUENCE, func() {
				addADEntry(b, adtype.ADWin2KPAC, func() { b.AddBytes(pac) })
			})
		})
	})
}

// addADEntry adds SEQUENCE { ad-type [0] Int32, ad-data [1] OCTET STRING }
// with the ad-data that data adds.
func addADEntry(b *krbder.Builder, typ int32, data func()) {
	b.AddASN1(cbasn1.SEQUENCE, func() {
		krbder.Int(b, 0, int64(typ))
		krbder.Explicit(b, 1, func() { b.AddASN1(cbasn1.OCTET_STRING, data) })
	})
}

// marshalTicket is the DER Ticket with its [APPLICATION 1] tag: the bytes
// asn1.Marshal gives for ticketASN1, tagged (an EncryptedData kvno of 0 is
// omitted, as its optional field is).
func marshalTicket(t ticketASN1) ([]byte, error) {
	b := krbder.NewBuilder(make([]byte, 0, 128+len(t.Realm)+len(t.EncPart.Cipher)))
	b.AddASN1(krbder.Application(asnAppTag.Ticket), func() {
		b.AddASN1(cbasn1.SEQUENCE, func() {
			krbder.Explicit(b, 0, func() { b.AddASN1Int64(int64(t.TktVNO)) })
			krbder.Explicit(b, 1, func() { krbder.GeneralString(b, t.Realm) })
			krbder.PrincipalName(b, 2, t.SName)
			krbder.Explicit(b, 3, func() {
				b.AddASN1(cbasn1.SEQUENCE, func() {
					krbder.Int(b, 0, int64(t.EncPart.EType))
					if t.EncPart.KVNO != 0 {
						krbder.Explicit(b, 1, func() { b.AddASN1Int64(int64(t.EncPart.KVNO)) })
					}
					krbder.Octets(b, 2, t.EncPart.Cipher)
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("kdc: marshal Ticket: %w", err)
	}
	return out, nil
}
