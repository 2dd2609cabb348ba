package krbcred

import (
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"

	"github.com/passkdc/passkdc/kdc/internal/krbder"
)

// ASN.1 application tags (RFC 4120 §5.10).
const (
	appTagTicket         = 1
	appTagKRBCred        = 22
	appTagEncKrbCredPart = 29
	pvno                 = 5
	msgTypeKRBCred       = 22
)

// krbCredWire is KRB-CRED without its [APPLICATION 22] wrapper, for
// decoding. Tickets holds the whole [2] element: gofork fills a RawValue
// field with the complete TLV and ignores the field's tag parameters, so its
// class and tag are checked by hand.
type krbCredWire struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	Tickets asn1.RawValue       `asn1:"explicit,tag:2"`
	EncPart types.EncryptedData `asn1:"explicit,tag:3"`
}

// encKrbCredPartWire is EncKrbCredPart without its [APPLICATION 29] wrapper.
// Zero optional fields are omitted by the encoder, as MIT omits them.
type encKrbCredPartWire struct {
	TicketInfo []krbCredInfoWire `asn1:"explicit,tag:0"`
	Nonce      int32             `asn1:"optional,explicit,tag:1"`
	Timestamp  time.Time         `asn1:"generalized,optional,explicit,tag:2"`
	Usec       int32             `asn1:"optional,explicit,tag:3"`
	SAddress   types.HostAddress `asn1:"optional,explicit,tag:4"`
	RAddress   types.HostAddress `asn1:"optional,explicit,tag:5"`
}

// krbCredInfoWire is KrbCredInfo with both realms as GeneralString (gokrb5
// encodes srealm as IA5String, which MIT's decoder rejects).
type krbCredInfoWire struct {
	Key       types.EncryptionKey `asn1:"explicit,tag:0"`
	PRealm    string              `asn1:"generalstring,optional,explicit,tag:1"`
	PName     types.PrincipalName `asn1:"optional,explicit,tag:2"`
	Flags     asn1.BitString      `asn1:"optional,explicit,tag:3"`
	AuthTime  time.Time           `asn1:"generalized,optional,explicit,tag:4"`
	StartTime time.Time           `asn1:"generalized,optional,explicit,tag:5"`
	EndTime   time.Time           `asn1:"generalized,optional,explicit,tag:6"`
	RenewTill time.Time           `asn1:"generalized,optional,explicit,tag:7"`
	SRealm    string              `asn1:"generalstring,optional,explicit,tag:8"`
	SName     types.PrincipalName `asn1:"optional,explicit,tag:9"`
	CAddr     types.HostAddresses `asn1:"optional,explicit,tag:10"`
}

// tlv encodes one element with the given class, tag and contents.
func tlv(class, tag int, compound bool, contents []byte) ([]byte, error) {
	return asn1.Marshal(asn1.RawValue{Class: class, Tag: tag, IsCompound: compound, Bytes: contents})
}

// explicit wraps an encoded element in a context-specific [tag].
func explicit(tag int, inner []byte) ([]byte, error) {
	return tlv(asn1.ClassContextSpecific, tag, true, inner)
}

// sequence concatenates encoded elements into a SEQUENCE.
func sequence(parts ...[]byte) ([]byte, error) {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	return tlv(asn1.ClassUniversal, asn1.TagSequence, true, body)
}

// explicitValue marshals v and wraps it in [tag].
func explicitValue(tag int, v any) ([]byte, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return nil, err
	}
	return explicit(tag, b)
}

// splitElements splits concatenated DER elements, requiring each to be
// [APPLICATION tag] constructed, and returns copies of their encodings.
func splitElements(b []byte, appTag int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		var rv asn1.RawValue
		rest, err := asn1.Unmarshal(b, &rv)
		if err != nil {
			return nil, err
		}
		if rv.Class != asn1.ClassApplication || rv.Tag != appTag || !rv.IsCompound {
			return nil, fmt.Errorf("element %d has class %d tag %d, want [APPLICATION %d]", len(out), rv.Class, rv.Tag, appTag)
		}
		out = append(out, append([]byte{}, rv.FullBytes...))
		b = rest
	}
	return out, nil
}

// checkTicketDER checks that b is exactly one [APPLICATION 1] element.
func checkTicketDER(b []byte) error {
	// One [APPLICATION 1] element, read without reflection: the ticket was
	// usually just encoded by kdc.
	in := cryptobyte.String(b)
	var el cryptobyte.String
	if !in.ReadASN1Element(&el, krbder.Application(appTagTicket)) {
		return errors.New("not a DER [APPLICATION 1] Ticket")
	}
	if !in.Empty() {
		return fmt.Errorf("%d bytes after the Ticket, want one Ticket", len(in))
	}
	return nil
}
