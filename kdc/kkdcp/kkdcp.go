// Package kkdcp is the wire side of the Kerberos KDC proxy protocol
// (MS-KKDCP): the DER KDC-PROXY-MESSAGE that clients POST to /KdcProxy, and
// a forwarder that relays the Kerberos message it carries to a realm's KDCs
// over TCP (RFC 4120 §7.2.2 framing) and returns their answer.
//
//	KDC-PROXY-MESSAGE ::= SEQUENCE {
//	    kerb-message    [0] OCTET STRING,   -- 4-byte length + Kerberos message
//	    target-domain   [1] KERB-REALM OPTIONAL,
//	    dclocator-hint  [2] INTEGER OPTIONAL }
//
// Only AS-REQ and TGS-REQ are forwarded: anything else is refused before a
// KDC is contacted. The HTTP glue (content type, rate limit, metrics) lives
// in server/.
package kkdcp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Kerberos application tags (RFC 4120) as the first DER byte of a message.
const (
	tagASReq    = 0x6a // [APPLICATION 10]
	tagASRep    = 0x6b // [APPLICATION 11]
	tagTGSReq   = 0x6c // [APPLICATION 12]
	tagTGSRep   = 0x6d // [APPLICATION 13]
	tagKRBError = 0x7e // [APPLICATION 30]
	tagGeneral  = casn1.Tag(27)
)

// Typed refusals: callers map them to an outcome label and a log reason.
var (
	ErrNotDER      = errors.New("not a DER KDC-PROXY-MESSAGE")
	ErrOuterTag    = errors.New("outer tag is not a SEQUENCE")
	ErrTooLarge    = errors.New("message larger than the configured cap")
	ErrFraming     = errors.New("kerb-message length prefix does not match its size")
	ErrMessageType = errors.New("kerb-message is not an AS-REQ or TGS-REQ")
	ErrReply       = errors.New("KDC reply is not an AS-REP, TGS-REP or KRB-ERROR")
)

// Message is a decoded KDC-PROXY-MESSAGE.
type Message struct {
	// KerbMessage is the Kerberos message with its 4-byte length prefix.
	KerbMessage []byte
	// Realm is target-domain ("" when absent).
	Realm string
	// DCLocatorHint is dclocator-hint when HasHint.
	DCLocatorHint int64
	HasHint       bool
}

// Kerberos returns the Kerberos message without its length prefix.
func (m Message) Kerberos() []byte { return m.KerbMessage[4:] }

// Marshal encodes m as DER.
func (m Message) Marshal() ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(casn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(m.KerbMessage)
		})
		if m.Realm != "" {
			b.AddASN1(casn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(tagGeneral, func(b *cryptobyte.Builder) { b.AddBytes([]byte(m.Realm)) })
			})
		}
		if m.HasHint {
			b.AddASN1(casn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(m.DCLocatorHint)
			})
		}
	})
	return b.Bytes()
}

// Frame prefixes a Kerberos message with its 4-byte big-endian length.
func Frame(krb []byte) []byte {
	return append(binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(krb)), uint32(len(krb))), krb...)
}

// Decode parses a KDC-PROXY-MESSAGE of at most maxBytes (<= 0: no cap) and
// checks that it carries a correctly framed AS-REQ or TGS-REQ.
func Decode(b []byte, maxBytes int) (Message, error) {
	var m Message
	if maxBytes > 0 && len(b) > maxBytes {
		return m, ErrTooLarge
	}
	if len(b) == 0 {
		return m, ErrNotDER
	}
	if b[0] != 0x30 {
		return m, ErrOuterTag
	}
	in := cryptobyte.String(b)
	var seq, t0 cryptobyte.String
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() {
		return m, ErrNotDER
	}
	var krb []byte
	if !seq.ReadASN1(&t0, casn1.Tag(0).Constructed().ContextSpecific()) ||
		!t0.ReadASN1Bytes(&krb, casn1.OCTET_STRING) || !t0.Empty() {
		return m, fmt.Errorf("%w: kerb-message [0] missing or malformed", ErrNotDER)
	}
	var t1 cryptobyte.String
	var present bool
	if !seq.ReadOptionalASN1(&t1, &present, casn1.Tag(1).Constructed().ContextSpecific()) {
		return m, fmt.Errorf("%w: target-domain [1] malformed", ErrNotDER)
	}
	if present {
		var realm cryptobyte.String
		if !t1.ReadASN1(&realm, tagGeneral) || !t1.Empty() || len(realm) == 0 || !printable(realm) {
			return m, fmt.Errorf("%w: target-domain is not a realm name", ErrNotDER)
		}
		m.Realm = string(realm)
	}
	var t2 cryptobyte.String
	if !seq.ReadOptionalASN1(&t2, &m.HasHint, casn1.Tag(2).Constructed().ContextSpecific()) {
		return m, fmt.Errorf("%w: dclocator-hint [2] malformed", ErrNotDER)
	}
	if m.HasHint && (!t2.ReadASN1Integer(&m.DCLocatorHint) || !t2.Empty()) {
		return m, fmt.Errorf("%w: dclocator-hint is not an INTEGER", ErrNotDER)
	}
	if !seq.Empty() {
		return m, fmt.Errorf("%w: trailing fields", ErrNotDER)
	}
	if err := checkFrame(krb); err != nil {
		return m, err
	}
	if krb[4] != tagASReq && krb[4] != tagTGSReq {
		return m, fmt.Errorf("%w (first byte 0x%02x)", ErrMessageType, krb[4])
	}
	m.KerbMessage = krb
	return m, nil
}

func checkFrame(krb []byte) error {
	if len(krb) < 5 || binary.BigEndian.Uint32(krb) != uint32(len(krb)-4) {
		return ErrFraming
	}
	return nil
}

func printable(s []byte) bool {
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// DecodeReply parses a proxy's answer (at most maxBytes; <= 0: no cap): a
// KDC-PROXY-MESSAGE whose kerb-message is a framed AS-REP, TGS-REP or
// KRB-ERROR. It returns the Kerberos message without its length prefix.
func DecodeReply(b []byte, maxBytes int) ([]byte, error) {
	if maxBytes > 0 && len(b) > maxBytes {
		return nil, ErrTooLarge
	}
	in := cryptobyte.String(b)
	var seq, t0 cryptobyte.String
	var krb []byte
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&t0, casn1.Tag(0).Constructed().ContextSpecific()) ||
		!t0.ReadASN1Bytes(&krb, casn1.OCTET_STRING) || !t0.Empty() {
		return nil, ErrNotDER
	}
	if err := checkFrame(krb); err != nil {
		return nil, err
	}
	switch krb[4] {
	case tagASRep, tagTGSRep, tagKRBError:
		return krb[4:], nil
	}
	return nil, fmt.Errorf("%w (first byte 0x%02x)", ErrReply, krb[4])
}
