package mitkdc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Errors of the AS-REQ client.
var (
	// ErrMalformedReply is wrapped when the KDC's answer cannot be parsed.
	ErrMalformedReply = errors.New("mitkdc: malformed KDC reply")
	// ErrBadReply is wrapped when an AS-REP parses but does not answer the
	// request: wrong names, nonce, or an enc-part the key does not decrypt.
	ErrBadReply = errors.New("mitkdc: AS-REP does not match the request")
)

// Transport is how a Client reaches the KDC.
type Transport string

// Transports.
const (
	// UDP sends each request in one datagram over a connected socket that is
	// reused, as MIT clients try first (udp_preference_limit 1465).
	UDP Transport = "udp"
	// TCP opens a connection per request (4-byte length prefix, RFC 4120
	// 7.2.2): MIT's KDC closes a TCP connection after its one reply.
	TCP Transport = "tcp"
)

// Limits of the client.
const (
	// DefaultTimeout bounds one exchange when the context has no earlier deadline.
	DefaultTimeout = 5 * time.Second
	// maxReply bounds a reply read over TCP or UDP.
	maxReply = 64 << 10
	// maxStaleReads bounds how many stale UDP replies (answers to an earlier,
	// timed-out request) one exchange skips.
	maxStaleReads = 8
)

// Principal is a client principal with its long-term key already derived, so
// that an exchange costs no string2key.
type Principal struct {
	// Name is the principal name (KRB_NT_PRINCIPAL).
	Name types.PrincipalName
	// Realm is the realm, also the salt prefix.
	Realm string
	// Key is the aes256-cts-hmac-sha1-96 key from the password.
	Key types.EncryptionKey

	// derived caches the usage keys of Key (nil: derive per message).
	derived *derivedKeys
}

// NewPrincipal derives the aes256-cts-hmac-sha1-96 key of name@realm from
// password with MIT's default salt (realm followed by the name) and the
// default 4096 PBKDF2 iterations, and the RFC 3961 usage keys of the AS
// exchange from it. This is the expensive step: do it once per user, outside
// any measurement. (A Principal built by hand, without NewPrincipal, works
// too, deriving the usage keys on every message as gokrb5 does.)
func NewPrincipal(realm, name, password string) (Principal, error) {
	et, err := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		return Principal{}, fmt.Errorf("mitkdc: %w", err)
	}
	key, err := et.StringToKey(password, realm+name, et.GetDefaultStringToKeyParams())
	if err != nil {
		return Principal{}, fmt.Errorf("mitkdc: string2key for %s: %w", name, err)
	}
	p := Principal{
		Name:  types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, name),
		Realm: realm,
		Key:   types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: key},
	}
	if p.derived, err = deriveKeys(p.Key); err != nil {
		return Principal{}, err
	}
	return p, nil
}

// encryptTimestamp encrypts a PA-ENC-TS-ENC under p's key, key usage 1.
func (p Principal) encryptTimestamp(ts []byte) (types.EncryptedData, error) {
	if p.derived == nil {
		return crypto.GetEncryptedData(ts, p.Key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, 0)
	}
	ct, err := p.derived.timestamp.seal(ts)
	return types.EncryptedData{EType: p.Key.KeyType, Cipher: ct}, err
}

// decryptASRep decrypts an AS-REP enc-part under p's key, key usage 3.
func (p Principal) decryptASRep(ed types.EncryptedData) ([]byte, error) {
	if p.derived == nil {
		return crypto.DecryptEncPart(ed, p.Key, keyusage.AS_REP_ENCPART)
	}
	return p.derived.asRep.open(ed.Cipher)
}

// Reply is a verified AS-REP.
type Reply struct {
	// Rep is the parsed AS-REP, with DecryptedEncPart filled in.
	Rep messages.ASRep
	// Transport is the transport that carried the reply (a UDP request
	// answered with KRB_ERR_RESPONSE_TOO_BIG is retried over TCP).
	Transport Transport
}

// Client sends AS-REQs to one KDC. It is not safe for concurrent use: give
// each load worker its own.
type Client struct {
	// Timeout bounds one exchange when the context has no earlier deadline.
	Timeout time.Duration

	addr string
	tr   Transport
	udp  net.Conn
	cfg  *config.Config
	buf  []byte
}

// NewClient returns a client for the KDC at addr (host:port) over tr. For UDP
// it opens the socket it will reuse; call Close.
func NewClient(addr string, tr Transport) (*Client, error) {
	c := &Client{Timeout: DefaultTimeout, addr: addr, tr: tr, cfg: config.New(), buf: make([]byte, maxReply)}
	c.cfg.LibDefaults.NoAddresses = true
	switch tr {
	case UDP:
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return nil, fmt.Errorf("mitkdc: dial udp %s: %w", addr, err)
		}
		c.udp = conn
	case TCP:
	default:
		return nil, fmt.Errorf("mitkdc: unknown transport %q", tr)
	}
	return c, nil
}

// Close releases the client's socket.
func (c *Client) Close() error {
	if c.udp != nil {
		return c.udp.Close()
	}
	return nil
}

// BuildASReq returns an AS-REQ for krbtgt/REALM with PA-ENC-TIMESTAMP
// encrypted under p's key (key usage 1), asking for p's key type only.
func (c *Client) BuildASReq(p Principal) (messages.ASReq, []byte, error) {
	req, err := messages.NewASReqForTGT(p.Realm, c.cfg, p.Name)
	if err != nil {
		return req, nil, fmt.Errorf("mitkdc: AS-REQ: %w", err)
	}
	req.ReqBody.EType = []int32{p.Key.KeyType}
	ts, err := types.GetPAEncTSEncAsnMarshalled()
	if err != nil {
		return req, nil, fmt.Errorf("mitkdc: PA-ENC-TS-ENC: %w", err)
	}
	enc, err := p.encryptTimestamp(ts)
	if err != nil {
		return req, nil, fmt.Errorf("mitkdc: encrypt timestamp: %w", err)
	}
	pa, err := enc.Marshal()
	if err != nil {
		return req, nil, fmt.Errorf("mitkdc: PA-ENC-TIMESTAMP: %w", err)
	}
	req.PAData = types.PADataSequence{{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: pa}}
	raw, err := req.Marshal()
	if err != nil {
		return req, nil, fmt.Errorf("mitkdc: marshal AS-REQ: %w", err)
	}
	return req, raw, nil
}

// Login performs one AS exchange for p: a single round trip with
// pre-authentication (no preliminary request to learn the etype and salt:
// the client knows them, like an MIT client with cached etype info). A KDC
// error is returned as a wrapped messages.KRBError (see ErrorCode).
func (c *Client) Login(ctx context.Context, p Principal) (*Reply, error) {
	req, raw, err := c.BuildASReq(p)
	if err != nil {
		return nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if c.tr == UDP {
		rep, err := c.exchangeUDP(ctx, req, raw, p)
		if code, ok := ErrorCode(err); !ok || code != errorcode.KRB_ERR_RESPONSE_TOO_BIG {
			return rep, err
		}
	}
	resp, err := c.exchangeTCP(ctx, raw)
	if err != nil {
		return nil, err
	}
	rep, err := VerifyReply(resp, req, p)
	if err != nil {
		return nil, err
	}
	return &Reply{Rep: rep, Transport: TCP}, nil
}

// exchangeUDP sends raw once and reads until a reply that answers req,
// skipping stale AS-REPs to earlier requests.
func (c *Client) exchangeUDP(ctx context.Context, req messages.ASReq, raw []byte, p Principal) (*Reply, error) {
	deadline, _ := ctx.Deadline()
	if err := c.udp.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("mitkdc: udp deadline: %w", err)
	}
	// Unblock the read below as soon as ctx is cancelled, not only at its deadline.
	stop := context.AfterFunc(ctx, func() { _ = c.udp.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.udp.Write(raw); err != nil {
		return nil, fmt.Errorf("mitkdc: udp send: %w", err)
	}
	var lastErr error
	for range maxStaleReads {
		n, err := c.udp.Read(c.buf)
		if err != nil {
			return nil, fmt.Errorf("mitkdc: udp receive: %w", err)
		}
		rep, err := VerifyReply(c.buf[:n], req, p)
		if err == nil {
			return &Reply{Rep: rep, Transport: UDP}, nil
		}
		if !errors.Is(err, errNonceMismatch) {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// exchangeTCP sends raw over a new TCP connection and returns the reply.
func (c *Client) exchangeTCP(ctx context.Context, raw []byte) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, fmt.Errorf("mitkdc: dial tcp %s: %w", c.addr, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("mitkdc: tcp deadline: %w", err)
	}
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(raw)), uint32(len(raw)))
	if _, err := conn.Write(append(msg, raw...)); err != nil {
		return nil, fmt.Errorf("mitkdc: tcp send: %w", err)
	}
	return readFramed(conn, c.buf)
}

// readFramed reads one length-prefixed Kerberos message into buf.
func readFramed(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("mitkdc: tcp receive: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > uint32(len(buf)) {
		return nil, fmt.Errorf("%w: TCP length %d", ErrMalformedReply, n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return nil, fmt.Errorf("mitkdc: tcp receive: %w", err)
	}
	return buf[:n], nil
}

// errNonceMismatch marks an AS-REP that answers some other request.
var errNonceMismatch = fmt.Errorf("%w: nonce", ErrBadReply)

// ASN.1 application tags of the replies (first byte: constructed, application class).
const (
	tagASRep    = 0x60 | 11
	tagKRBError = 0x60 | 30
)

// VerifyReply parses a KDC reply to req: a KRB-ERROR becomes a wrapped
// messages.KRBError; an AS-REP must name p, decrypt under p's key (key usage
// 3), and carry req's nonce and server name.
func VerifyReply(b []byte, req messages.ASReq, p Principal) (rep messages.ASRep, err error) {
	if len(b) == 0 {
		return rep, fmt.Errorf("%w: empty", ErrMalformedReply)
	}
	switch b[0] {
	case tagKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(b); err != nil {
			return rep, fmt.Errorf("%w: KRB-ERROR: %w", ErrMalformedReply, err)
		}
		return rep, fmt.Errorf("mitkdc: KDC error %d: %w", ke.ErrorCode, ke)
	case tagASRep:
	default:
		return rep, fmt.Errorf("%w: tag 0x%02x", ErrMalformedReply, b[0])
	}
	if err := rep.Unmarshal(b); err != nil {
		return rep, fmt.Errorf("%w: AS-REP: %w", ErrMalformedReply, err)
	}
	if !rep.CName.Equal(p.Name) || rep.CRealm != p.Realm {
		return rep, fmt.Errorf("%w: client %v@%s", ErrBadReply, rep.CName.NameString, rep.CRealm)
	}
	if rep.EncPart.EType != p.Key.KeyType {
		return rep, fmt.Errorf("%w: enc-part etype %d", ErrBadReply, rep.EncPart.EType)
	}
	plain, err := p.decryptASRep(rep.EncPart)
	if err != nil {
		return rep, fmt.Errorf("%w: decrypt enc-part: %w", ErrBadReply, err)
	}
	if err := rep.DecryptedEncPart.Unmarshal(plain); err != nil {
		return rep, fmt.Errorf("%w: enc-part: %w", ErrMalformedReply, err)
	}
	if rep.DecryptedEncPart.Nonce != req.ReqBody.Nonce {
		return rep, errNonceMismatch
	}
	if !rep.DecryptedEncPart.SName.Equal(req.ReqBody.SName) || rep.DecryptedEncPart.SRealm != req.ReqBody.Realm {
		return rep, fmt.Errorf("%w: server %v@%s", ErrBadReply, rep.DecryptedEncPart.SName.NameString, rep.DecryptedEncPart.SRealm)
	}
	if len(rep.DecryptedEncPart.Key.KeyValue) == 0 {
		return rep, fmt.Errorf("%w: no session key", ErrBadReply)
	}
	return rep, nil
}

// ErrorCode returns the Kerberos error code of a KDC error returned by Login.
func ErrorCode(err error) (int32, bool) {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return ke.ErrorCode, true
	}
	return 0, false
}
