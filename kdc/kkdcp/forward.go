package kkdcp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// ErrRealm: the target realm is not one this proxy serves.
var ErrRealm = errors.New("realm not served by this proxy")

// ErrKDCUnreachable: no KDC of the realm answered.
var ErrKDCUnreachable = errors.New("no KDC of the realm answered")

// Forwarder relays Kerberos messages to the KDCs of configured realms.
type Forwarder struct {
	// KDCs maps an upper-case realm to its KDC addresses (host:port), tried
	// in order; its keys are the realms served.
	KDCs map[string][]string
	// SRV, when set, finds each served realm's KDCs in DNS; they are tried
	// before the realm's KDCs entries (which remain when DNS has none).
	SRV *SRV
	// Timeout bounds one KDC exchange (dial, send, answer); 0: 5 s.
	Timeout time.Duration
	// MaxReply caps a KDC answer; 0: 64 KiB.
	MaxReply int
	// Dial connects to a KDC (nil: net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Forward sends m to the KDCs of its realm and returns the answer, framed
// (length prefix included) as KKDCP replies carry it.
func (f *Forwarder) Forward(ctx context.Context, m Message) ([]byte, error) {
	kdcs, ok := f.KDCs[strings.ToUpper(m.Realm)]
	if m.Realm == "" || !ok || len(kdcs) == 0 && f.SRV == nil {
		return nil, fmt.Errorf("%w: %q", ErrRealm, m.Realm)
	}
	var errs []error
	if f.SRV != nil {
		found, err := f.SRV.KDCs(ctx, m.Realm)
		if err != nil {
			errs = append(errs, err)
		}
		kdcs = append(found[:len(found):len(found)], kdcs...)
	}
	for _, addr := range kdcs {
		b, err := f.one(ctx, addr, m.KerbMessage)
		if err == nil {
			return b, nil
		}
		if errors.Is(err, ErrReply) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("%w: %w", ErrKDCUnreachable, errors.Join(errs...))
}

func (f *Forwarder) one(ctx context.Context, addr string, framed []byte) ([]byte, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	max := f.MaxReply
	if max <= 0 {
		max = 64 << 10
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := f.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	if _, err := conn.Write(framed); err != nil {
		return nil, fmt.Errorf("%s: send: %w", addr, err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: read length: %w", addr, err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > uint32(max) {
		return nil, fmt.Errorf("%s: %w: length %d", addr, ErrReply, n)
	}
	b := make([]byte, 4+n)
	copy(b, hdr[:])
	if _, err := io.ReadFull(conn, b[4:]); err != nil {
		return nil, fmt.Errorf("%s: read reply: %w", addr, err)
	}
	switch b[4] {
	case tagASRep, tagTGSRep, tagKRBError:
		return b, nil
	}
	return nil, fmt.Errorf("%s: %w (first byte 0x%02x)", addr, ErrReply, b[4])
}
