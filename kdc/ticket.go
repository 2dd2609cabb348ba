package kdc

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/kdc/internal/aescts"
	"github.com/passkdc/passkdc/kdc/pac"
)

// DefaultTicketFlags returns the flag numbers (RFC 4120 TicketFlags bits)
// used when IssueOptions.Flags is nil, those of a partial TGT (DESIGN §2):
// forwardable, renewable, initial, pre-authent. The renewable flag is
// dropped when the policy has no renew lifetime.
func DefaultTicketFlags() []int {
	return []int{flags.Forwardable, flags.Renewable, flags.Initial, flags.PreAuthent}
}

// minTGTLifetime: Samba refuses a TGT in the last two minutes of its life
// (wdc-samba4.c, CHANGEPW_LIFETIME) since it may be a kpasswd ticket.
const minTGTLifetime = 2*time.Minute + time.Second

// IssueOptions tunes IssueTicket. The zero value gives what a DC issues,
// plus, as DESIGN §2 asks, ticket and full PAC checksums.
type IssueOptions struct {
	// Flags are RFC 4120 TicketFlags bit numbers (gokrb5 iana/flags);
	// nil means DefaultTicketFlags().
	Flags []int
	// KDCKey signs the KDC, ticket and full PAC checksums and gives the
	// RODC identifier. Nil means the ticket key itself (a KDC or RODC
	// issuing a TGT under its own krbtgt key).
	KDCKey *TicketKey
	// OmitTicketChecksum leaves out PAC_TICKET_CHECKSUM (16).
	OmitTicketChecksum bool
	// OmitFullChecksum leaves out PAC_FULL_CHECKSUM (19).
	OmitFullChecksum bool
	// NoPAC issues a ticket without authorization data.
	NoPAC bool
	// LogonServer is the optional LOGON_INFO LogonServer (NetBIOS name of
	// the issuing DC).
	LogonServer string
}

// Issued is a ticket and everything a KRB-CRED or a credential cache needs
// about it. It holds the session key: do not log it.
type Issued struct {
	// Ticket is the ticket as gokrb5 decodes TicketDER.
	Ticket messages.Ticket
	// TicketDER is the DER Ticket ([APPLICATION 1]).
	TicketDER []byte
	// SessionKey is the ticket session key.
	SessionKey types.EncryptionKey
	CName      types.PrincipalName
	CRealm     string
	SName      types.PrincipalName
	SRealm     string
	// Flags is the 32-bit TicketFlags bit string.
	Flags     asn1.BitString
	AuthTime  time.Time
	StartTime time.Time
	EndTime   time.Time
	// RenewTill is zero when the ticket is not renewable.
	RenewTill time.Time
	// KVNO is the full 32-bit kvno of the key the ticket is encrypted with.
	KVNO uint32

	// backing holds the bytes and names the fields above point to, so that
	// an issuance allocates them with the Issued.
	backing struct {
		cname [1]string
		sname [2]string // longer names get their own array
		flags [4]byte
		key   [32]byte
	}
}

// IssuePartialTGT issues a partial TGT for p: sname krbtgt/REALM, encrypted
// and PAC-signed with the RODC krbtgt key (whose kvno must carry an RODC
// number), as described in DESIGN §2. now is the authtime (zero: the
// current time); it is truncated to whole seconds.
func IssuePartialTGT(ctx context.Context, p Principal, key TicketKey, pol TicketPolicy, now time.Time) (*Issued, error) {
	if key.RODCNumber() == 0 {
		return nil, fmt.Errorf("%w: kvno %#x", ErrNotRODCKey, key.KVNO)
	}
	if pol.Lifetime < minTGTLifetime {
		return nil, fmt.Errorf("%w: a TGT lifetime of %v would be refused by the DC", ErrInvalidPolicy, pol.Lifetime)
	}
	sname := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", p.Realm}}
	return IssueTicket(ctx, p, sname, p.Realm, key, pol, now, IssueOptions{})
}

// IssueTicket issues a ticket for client to server@srealm encrypted with key
// (key usage 2), with a PAC signed by key (server signature) and by
// opts.KDCKey or key (KDC, ticket and full signatures).
func IssueTicket(ctx context.Context, client Principal, server types.PrincipalName, srealm string,
	key TicketKey, pol TicketPolicy, now time.Time, opts IssueOptions) (*Issued, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	kdcKey, err := validateIssue(client, server, srealm, key, pol, opts)
	if err != nil {
		return nil, err
	}
	if now.IsZero() {
		now = time.Now()
	}
	iss, err := newIssued(client, server, srealm, key, pol, now, opts)
	if err != nil {
		return nil, err
	}
	part := iss.encPart()
	var pacBytes []byte
	if !opts.NoPAC {
		if pacBytes, err = signedPAC(client, iss, part, key, kdcKey, opts); err != nil {
			return nil, err
		}
	}
	if err := iss.seal(part, pacBytes, key); err != nil {
		return nil, err
	}
	return iss, nil
}

func validateIssue(client Principal, server types.PrincipalName, srealm string, key TicketKey, pol TicketPolicy,
	opts IssueOptions) (TicketKey, error) {
	if err := client.validate(); err != nil {
		return TicketKey{}, err
	}
	if len(server.NameString) == 0 {
		return TicketKey{}, fmt.Errorf("%w: empty server name", ErrInvalidPrincipal)
	}
	for _, c := range server.NameString {
		if c == "" {
			return TicketKey{}, fmt.Errorf("%w: empty server name component", ErrInvalidPrincipal)
		}
	}
	if err := validateComponent("server realm", srealm); err != nil {
		return TicketKey{}, err
	}
	if err := pol.validate(); err != nil {
		return TicketKey{}, err
	}
	if err := key.validate(); err != nil {
		return TicketKey{}, err
	}
	kdcKey := key
	if opts.KDCKey != nil {
		kdcKey = *opts.KDCKey
		if err := kdcKey.validate(); err != nil {
			return TicketKey{}, fmt.Errorf("KDC key: %w", err)
		}
	}
	return kdcKey, nil
}

func newIssued(client Principal, server types.PrincipalName, srealm string, key TicketKey, pol TicketPolicy,
	now time.Time, opts IssueOptions) (*Issued, error) {
	iss := new(Issued)
	b := &iss.backing
	sk, err := randomKey(key.Key.KeyType, b.key[:len(key.Key.KeyValue)])
	if err != nil {
		return nil, err
	}
	b.cname[0] = client.Name
	auth := now.UTC().Truncate(time.Second)
	iss.SessionKey = sk
	iss.CName = types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: b.cname[:]}
	iss.CRealm = client.Realm
	iss.SName = types.PrincipalName{NameType: server.NameType, NameString: append(b.sname[:0], server.NameString...)}
	iss.SRealm = srealm
	iss.Flags = asn1.BitString{Bytes: b.flags[:], BitLength: 8 * len(b.flags)} // types.NewKrbFlags()
	iss.AuthTime, iss.StartTime = auth, auth
	iss.EndTime = auth.Add(pol.Lifetime.Truncate(time.Second))
	iss.KVNO = key.KVNO
	fl := opts.Flags
	if fl == nil {
		fl = DefaultTicketFlags()
	}
	for _, f := range fl {
		if f < 0 || f > 31 {
			return nil, fmt.Errorf("%w: ticket flag %d", ErrInvalidPolicy, f)
		}
		if f == flags.Renewable && pol.RenewLifetime == 0 {
			continue
		}
		types.SetFlag(&iss.Flags, f)
	}
	if pol.RenewLifetime > 0 && types.IsFlagSet(&iss.Flags, flags.Renewable) {
		iss.RenewTill = auth.Add(pol.RenewLifetime.Truncate(time.Second))
	}
	return iss, nil
}

// randomKey makes a session key of the given etype from crypto/rand in b.
func randomKey(etype int32, b []byte) (types.EncryptionKey, error) {
	if _, err := rand.Read(b); err != nil {
		return types.EncryptionKey{}, fmt.Errorf("kdc: session key: %w", err)
	}
	return types.EncryptionKey{KeyType: etype, KeyValue: b}, nil
}

// encTicketPart is RFC 4120 EncTicketPart with the explicit tags; gokrb5 has
// no marshaller for it. Optional times are omitted when zero. caddr is never
// sent.
type encTicketPart struct {
	Flags             asn1.BitString          `asn1:"explicit,tag:0"`
	Key               types.EncryptionKey     `asn1:"explicit,tag:1"`
	CRealm            string                  `asn1:"generalstring,explicit,tag:2"`
	CName             types.PrincipalName     `asn1:"explicit,tag:3"`
	Transited         transitedEncoding       `asn1:"explicit,tag:4"`
	AuthTime          time.Time               `asn1:"generalized,explicit,tag:5"`
	StartTime         time.Time               `asn1:"generalized,explicit,optional,tag:6"`
	EndTime           time.Time               `asn1:"generalized,explicit,tag:7"`
	RenewTill         time.Time               `asn1:"generalized,explicit,optional,tag:8"`
	AuthorizationData types.AuthorizationData `asn1:"explicit,optional,tag:10"`
}

// transitedEncoding is TransitedEncoding. We send tr-type 1
// (DOMAIN-X500-COMPRESS) with empty contents, as Heimdal's and MIT's KDCs
// do; Heimdal's TGS accepts it (krb5tgs.c fix_transited_encoding).
type transitedEncoding struct {
	TRType   int32  `asn1:"explicit,tag:0"`
	Contents []byte `asn1:"explicit,tag:1"`
}

const domainX500Compress = 1

// ticketASN1 is RFC 4120 Ticket.
type ticketASN1 struct {
	TktVNO  int                 `asn1:"explicit,tag:0"`
	Realm   string              `asn1:"generalstring,explicit,tag:1"`
	SName   types.PrincipalName `asn1:"explicit,tag:2"`
	EncPart types.EncryptedData `asn1:"explicit,tag:3"`
}

func (iss *Issued) encPart() encTicketPart {
	return encTicketPart{
		Flags: iss.Flags, Key: iss.SessionKey, CRealm: iss.CRealm, CName: iss.CName,
		Transited: transitedEncoding{TRType: domainX500Compress, Contents: []byte{}},
		AuthTime:  iss.AuthTime, StartTime: iss.StartTime, EndTime: iss.EndTime, RenewTill: iss.RenewTill,
	}
}

// signedPAC builds and signs the PAC. The ticket checksum input is the DER
// EncTicketPart of this very ticket with the PAC's ad-data replaced by a
// single zero byte, which is what Heimdal's _krb5_kdc_pac_ticket_parse
// recomputes (it decodes the EncTicketPart, swaps the ad-data and re-encodes
// in DER).
func signedPAC(client Principal, iss *Issued, part encTicketPart, key, kdcKey TicketKey,
	opts IssueOptions) ([]byte, error) {
	p := buildPAC(client, iss, opts)
	so := pac.SignOptions{FullChecksum: !opts.OmitFullChecksum}
	if !opts.OmitTicketChecksum {
		var err error
		if so.TicketSignData, err = marshalEncTicketPart(part, []byte{0}); err != nil {
			return nil, err
		}
	}
	keys := pac.SigningKeys{Server: key.Key, KDC: kdcKey.Key, RODCNumber: kdcKey.RODCNumber(),
		ServerKc: key.checksumKey(), KDCKc: kdcKey.checksumKey()}
	pacBytes, err := p.Sign(keys, so)
	if err != nil {
		return nil, fmt.Errorf("kdc: sign PAC: %w", err)
	}
	return pacBytes, nil
}

// seal encrypts part, with the signed PAC pacBytes as its authorization
// data when non-nil, with key (key usage 2) into the ticket.
func (iss *Issued) seal(part encTicketPart, pacBytes []byte, key TicketKey) error {
	var ed types.EncryptedData
	if d := key.usable(); d != nil {
		// Encoded where it is encrypted.
		buf, err := encodeEncTicketPart(part, pacBytes, aescts.Prefix, aescts.Slack)
		if err != nil {
			return err
		}
		if ed, err = d.encryptTicket(buf, key.WireKVNO()); err != nil {
			return fmt.Errorf("kdc: encrypt ticket: %w", err)
		}
	} else {
		plain, err := marshalEncTicketPart(part, pacBytes)
		if err != nil {
			return err
		}
		if ed, err = crypto.GetEncryptedData(plain, key.Key, keyusage.KDC_REP_TICKET, key.WireKVNO()); err != nil {
			return fmt.Errorf("kdc: encrypt ticket: %w", err)
		}
	}
	t := ticketASN1{TktVNO: iana.PVNO, Realm: iss.SRealm, SName: iss.SName, EncPart: ed}
	var err error
	if iss.TicketDER, err = marshalTicket(t); err != nil {
		return err
	}
	// What decoding TicketDER would give, without decoding what was just
	// encoded (the round trip is tested).
	iss.Ticket = messages.Ticket{TktVNO: t.TktVNO, Realm: t.Realm, SName: t.SName, EncPart: ed}
	return nil
}
