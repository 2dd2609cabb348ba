// Package tgs is a minimal Kerberos TGS client: it presents a ticket-granting
// ticket to a real KDC and returns the ticket it asked for. passkinit uses it to
// trade passkdc's partial TGT for a full TGT at a writable DC, as Windows does.
package tgs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// maxReply bounds a KDC reply; real replies with a PAC are a few kilobytes.
const maxReply = 1 << 20

// Request is one TGS exchange.
type Request struct {
	Client     types.PrincipalName
	Realm      string
	TGT        messages.Ticket
	SessionKey types.EncryptionKey
	Service    types.PrincipalName // e.g. krbtgt/REALM for a full TGT
	KDCs       []string            // host:port, tried in order
	Lifetime   time.Duration       // requested lifetime (0: 10 h)
	Renew      time.Duration       // requested renewable lifetime (0: not renewable)
	// Transport, when set, carries the request instead of TCP to KDCs (e.g.
	// a KDC proxy over HTTPS): it gets the encoded TGS-REQ and returns the
	// KDC's unframed answer.
	Transport Transport
}

// Transport sends one Kerberos message to a KDC and returns its answer.
type Transport func(ctx context.Context, msg []byte) ([]byte, error)

// Reply is what the KDC returned, decrypted.
type Reply struct {
	Ticket    messages.Ticket
	TicketDER []byte
	Part      messages.EncKDCRepPart
}

// KDCError is a KRB-ERROR answered by the KDC.
type KDCError struct {
	Code int32
	Text string
}

func (e *KDCError) Error() string {
	msg := fmt.Sprintf("KDC refused the request: %s (%d)", errorcode.Lookup(e.Code), e.Code)
	if e.Text != "" {
		msg += ": " + e.Text
	}
	return msg
}

// ErrUnreachable: no KDC answered.
var ErrUnreachable = errors.New("no KDC reachable")

// ErrConnect: the TCP connection to a KDC could not be made (refused, no
// route, name not found, connect timeout): nothing was sent to it.
var ErrConnect = errors.New("cannot connect")

// exchangeTimeout bounds one exchange with one KDC (connect, send, answer).
const exchangeTimeout = 10 * time.Second

// TCP returns a Transport to the KDC at addr (host:port) over TCP. Making
// the connection may take at most connectTimeout (0: the whole exchange's
// 10 s); a failure to connect wraps ErrConnect, so callers can tell a KDC
// out of reach from one that answered badly.
func TCP(addr string, connectTimeout time.Duration) Transport {
	return func(ctx context.Context, msg []byte) ([]byte, error) { return sendOne(ctx, addr, msg, connectTimeout) }
}

// Exchange sends a TGS-REQ and returns the decrypted reply. A KRB-ERROR comes
// back as *KDCError.
func Exchange(ctx context.Context, req Request) (*Reply, error) {
	cfg := config.New()
	cfg.LibDefaults.Forwardable = true
	cfg.LibDefaults.NoAddresses = true
	cfg.LibDefaults.TicketLifetime = req.Lifetime
	if cfg.LibDefaults.TicketLifetime == 0 {
		cfg.LibDefaults.TicketLifetime = 10 * time.Hour
	}
	cfg.LibDefaults.RenewLifetime = req.Renew
	cfg.LibDefaults.DefaultTGSEnctypeIDs = []int32{req.SessionKey.KeyType, 18, 17}
	tgsReq, err := messages.NewTGSReq(req.Client, req.Realm, cfg, req.TGT, req.SessionKey, req.Service, false)
	if err != nil {
		return nil, fmt.Errorf("build TGS-REQ: %w", err)
	}
	b, err := tgsReq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode TGS-REQ: %w", err)
	}
	send := req.Transport
	if send == nil {
		send = func(ctx context.Context, msg []byte) ([]byte, error) { return sendTCP(ctx, req.KDCs, msg) }
	}
	raw, err := send(ctx, b)
	if err != nil {
		return nil, err
	}
	return decodeReply(raw, tgsReq, req.SessionKey)
}

func decodeReply(raw []byte, tgsReq messages.TGSReq, key types.EncryptionKey) (*Reply, error) {
	var rep messages.TGSRep
	if err := rep.Unmarshal(raw); err != nil {
		var kerr messages.KRBError
		if kerr.Unmarshal(raw) == nil && kerr.MsgType == msgtype.KRB_ERROR {
			return nil, &KDCError{Code: kerr.ErrorCode, Text: kerr.EText}
		}
		return nil, fmt.Errorf("malformed KDC reply: %w", err)
	}
	if err := rep.DecryptEncPart(key); err != nil {
		return nil, fmt.Errorf("decrypt TGS-REP: %w", err)
	}
	if rep.DecryptedEncPart.Nonce != tgsReq.ReqBody.Nonce {
		return nil, errors.New("TGS-REP nonce does not match the request: possible replay")
	}
	der, err := rep.Ticket.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode returned ticket: %w", err)
	}
	return &Reply{Ticket: rep.Ticket, TicketDER: der, Part: rep.DecryptedEncPart}, nil
}

// sendTCP tries each KDC over TCP (RFC 4120 §7.2.2 framing) until one answers.
func sendTCP(ctx context.Context, kdcs []string, msg []byte) ([]byte, error) {
	if len(kdcs) == 0 {
		return nil, fmt.Errorf("%w: no KDC configured", ErrUnreachable)
	}
	var errs []error
	for _, addr := range kdcs {
		b, err := sendOne(ctx, addr, msg, 0)
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrUnreachable, errors.Join(errs...))
}

func sendOne(ctx context.Context, addr string, msg []byte, connectTimeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	d := net.Dialer{Timeout: connectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", addr, ErrConnect, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(msg)), uint32(len(msg)))
	if _, err := conn.Write(append(frame, msg...)); err != nil {
		return nil, fmt.Errorf("%s: send: %w", addr, err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: read length: %w", addr, err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxReply {
		return nil, fmt.Errorf("%s: bad reply length %d", addr, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(conn, b); err != nil {
		return nil, fmt.Errorf("%s: read reply: %w", addr, err)
	}
	return b, nil
}

// KDCsFromConfig reads the KDC addresses of realm from a krb5.conf file, in
// the order the [realms] kdc entries give them (MIT tries them in that
// order; gokrb5's GetKDCs shuffles them), with port 88 when none is given.
// A KDC proxy entry (kdc = https://host/KdcProxy) is returned unchanged.
// Without entries it falls back to DNS SRV records if the file enables them.
func KDCsFromConfig(path, realm string) ([]string, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	for _, r := range cfg.Realms {
		if r.Realm != realm || len(r.KDC) == 0 {
			continue
		}
		out := make([]string, 0, len(r.KDC))
		for _, k := range r.KDC {
			if strings.Contains(k, "://") { // a KDC proxy URL (MS-KKDCP), kept as is
				out = append(out, k)
				continue
			}
			if _, _, err := net.SplitHostPort(k); err != nil {
				k = net.JoinHostPort(strings.Trim(k, "[]"), "88")
			}
			out = append(out, k)
		}
		return out, nil
	}
	_, kdcs, err := cfg.GetKDCs(realm, true)
	if err != nil {
		return nil, fmt.Errorf("KDCs of %s in %s: %w", realm, path, err)
	}
	out := make([]string, 0, len(kdcs))
	for i := 1; i <= len(kdcs); i++ { // gokrb5 numbers them from 1
		out = append(out, kdcs[i])
	}
	return out, nil
}
