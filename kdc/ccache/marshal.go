package ccache

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// writer accumulates cache bytes; the first encoding error sticks.
type writer struct {
	b   []byte
	err error
}

func (w *writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (w *writer) u8(v uint8)   { w.b = append(w.b, v) }
func (w *writer) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }
func (w *writer) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

func (w *writer) data(what string, v []byte) {
	if uint64(len(v)) > math.MaxUint32 {
		w.fail("%s is %d bytes long", what, len(v))
		return
	}
	w.u32(uint32(len(v)))
	w.b = append(w.b, v...)
}

// int16ish writes a type number kept in 16 bits; MIT accepts both the
// signed and the unsigned reading of those bits.
func (w *writer) int16ish(what string, v int32) {
	if v < math.MinInt16 || v > math.MaxUint16 {
		w.fail("%s %d does not fit in 16 bits", what, v)
		return
	}
	w.u16(uint16(v))
}

func (w *writer) time(what string, t time.Time) {
	if t.IsZero() {
		w.u32(0)
		return
	}
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		w.fail("%s %s is outside the 32-bit range of the file format", what, t.UTC().Format(time.RFC3339))
		return
	}
	w.u32(uint32(s))
}

// Marshal encodes the cache in its Version (4 when zero). Version 4 always
// carries the DeltaTime header field with TimeOffset (0, 0 by default).
func (c *CCache) Marshal() ([]byte, error) {
	w := &writer{}
	c.marshalHeader(w)
	if c.DefaultPrincipal.IsZero() {
		w.fail("cache has no default principal")
	}
	w.principal(c.DefaultPrincipal)
	if w.err != nil {
		return nil, w.err
	}
	v := c.Version
	if v == 0 {
		v = Version4
	}
	for i := range c.Credentials {
		w.credential(v, &c.Credentials[i])
		if w.err != nil {
			return nil, fmt.Errorf("credential %d: %w", i, w.err)
		}
	}
	return w.b, nil
}

func (c *CCache) marshalHeader(w *writer) {
	switch c.Version {
	case 0, Version4:
		w.u8(5)
		w.u8(Version4)
		sec := c.TimeOffset / time.Second
		usec := (c.TimeOffset % time.Second) / time.Microsecond
		if sec < math.MinInt32 || sec > math.MaxInt32 {
			w.fail("time offset %s does not fit in 32-bit seconds", c.TimeOffset)
		}
		w.u16(12)
		w.u16(headerTagDeltaTime)
		w.u16(8)
		w.u32(uint32(int32(sec)))
		w.u32(uint32(int32(usec)))
	case Version3:
		w.u8(5)
		w.u8(Version3)
		if c.TimeOffset != 0 {
			w.fail("version 3 cannot hold a time offset")
		}
	default:
		if w.err == nil {
			w.err = &VersionError{Version: c.Version}
		}
	}
}

func (w *writer) principal(p Principal) {
	w.u32(uint32(p.NameType))
	w.u32(uint32(len(p.Components)))
	w.data("realm", []byte(p.Realm))
	for _, s := range p.Components {
		w.data("name component", []byte(s))
	}
}

func (w *writer) credential(version uint8, c *Credential) {
	w.principal(c.Client)
	w.principal(c.Server)
	if c.Key.KeyType < 0 || c.Key.KeyType > math.MaxUint16 {
		w.fail("key enctype %d does not fit in 16 bits", c.Key.KeyType)
	}
	w.u16(uint16(c.Key.KeyType))
	if version == Version3 {
		w.u16(uint16(c.Key.KeyType))
	}
	w.data("key", c.Key.KeyValue)
	w.time("authtime", c.AuthTime)
	w.time("starttime", c.StartTime)
	w.time("endtime", c.EndTime)
	w.time("renew_till", c.RenewTill)
	if c.IsSKey {
		w.u8(1)
	} else {
		w.u8(0)
	}
	w.u32(c.Flags)
	w.addresses(c.Addresses)
	w.authData(c.AuthData)
	w.data("ticket", c.Ticket)
	w.data("second ticket", c.SecondTicket)
}

func (w *writer) addresses(addrs []types.HostAddress) {
	w.u32(uint32(len(addrs)))
	for _, a := range addrs {
		w.int16ish("address type", a.AddrType)
		w.data("address", a.Address)
	}
}

func (w *writer) authData(ad []types.AuthorizationDataEntry) {
	w.u32(uint32(len(ad)))
	for _, a := range ad {
		w.int16ish("authdata type", a.ADType)
		w.data("authdata", a.ADData)
	}
}
