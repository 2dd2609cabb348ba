package ccache

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

// reader walks cache bytes; every method fails with ErrMalformed instead of
// reading past the end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) remaining() int { return len(r.b) - r.off }

func (r *reader) truncated(what string, need int) error {
	return fmt.Errorf("%w: %s needs %d bytes at offset %d, %d left", ErrMalformed, what, need, r.off, r.remaining())
}

func (r *reader) bytes(what string, n int) ([]byte, error) {
	if n < 0 || n > r.remaining() {
		return nil, r.truncated(what, n)
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v, nil
}

func (r *reader) u8(what string) (uint8, error) {
	v, err := r.bytes(what, 1)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *reader) u16(what string) (uint16, error) {
	v, err := r.bytes(what, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

func (r *reader) u32(what string) (uint32, error) {
	v, err := r.bytes(what, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

// data reads a 32-bit length and a copy of that many bytes (nil when the
// length is zero).
func (r *reader) data(what string) ([]byte, error) {
	n, err := r.u32(what + " length")
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(r.remaining()) {
		return nil, r.truncated(what, int(min(uint64(n), 1<<31-1)))
	}
	v, _ := r.bytes(what, int(n))
	if n == 0 {
		return nil, nil
	}
	return append([]byte{}, v...), nil
}

// count reads a 32-bit element count and checks that the remaining bytes can
// hold that many elements of at least minSize bytes each.
func (r *reader) count(what string, minSize int) (int, error) {
	n, err := r.u32(what)
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		return 0, fmt.Errorf("%w: %s %d exceeds the %d bytes left at offset %d", ErrMalformed, what, n, r.remaining(), r.off)
	}
	return int(n), nil
}

// Parse decodes a credential cache file of format version 3 or 4.
// Truncated or garbled input yields an error wrapping ErrMalformed; versions
// 1 and 2 yield a *VersionError.
func Parse(b []byte) (*CCache, error) {
	r := &reader{b: b}
	c := &CCache{}
	if err := c.parseHeader(r); err != nil {
		return nil, err
	}
	var err error
	if c.DefaultPrincipal, err = r.principal("default principal"); err != nil {
		return nil, err
	}
	for r.remaining() > 0 {
		cred, err := r.credential(c.Version)
		if err != nil {
			return nil, fmt.Errorf("credential %d: %w", len(c.Credentials), err)
		}
		c.Credentials = append(c.Credentials, cred)
	}
	return c, nil
}

// parseHeader reads the version and, for version 4, the tagged header fields.
func (c *CCache) parseHeader(r *reader) error {
	magic, err := r.u8("file format marker")
	if err != nil {
		return err
	}
	if magic != 5 {
		return fmt.Errorf("%w: first byte is 0x%02x, want 0x05", ErrMalformed, magic)
	}
	if c.Version, err = r.u8("file format version"); err != nil {
		return err
	}
	switch c.Version {
	case Version3:
		return nil
	case Version4:
		return c.parseHeaderFields(r)
	default:
		return &VersionError{Version: c.Version}
	}
}

// parseHeaderFields reads the version-4 header: a 16-bit total length, then
// fields of tag (16 bits), length (16 bits) and value. Unknown tags are
// skipped, as MIT's format document requires.
func (c *CCache) parseHeaderFields(r *reader) error {
	n, err := r.u16("header length")
	if err != nil {
		return err
	}
	hb, err := r.bytes("header", int(n))
	if err != nil {
		return err
	}
	h := &reader{b: hb}
	for h.remaining() > 0 {
		tag, err := h.u16("header tag")
		if err != nil {
			return err
		}
		flen, err := h.u16("header field length")
		if err != nil {
			return err
		}
		v, err := h.bytes("header field", int(flen))
		if err != nil {
			return err
		}
		if tag != headerTagDeltaTime {
			continue
		}
		if flen != 8 {
			return fmt.Errorf("%w: time offset header field has length %d, want 8", ErrMalformed, flen)
		}
		sec := int32(binary.BigEndian.Uint32(v[:4]))
		usec := int32(binary.BigEndian.Uint32(v[4:]))
		c.TimeOffset = time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
	}
	return nil
}

// principal reads a version 2+ principal: name type, component count, realm,
// components.
func (r *reader) principal(what string) (Principal, error) {
	var p Principal
	nt, err := r.u32(what + " name type")
	if err != nil {
		return p, err
	}
	p.NameType = int32(nt)
	n, err := r.count(what+" component count", 4)
	if err != nil {
		return p, err
	}
	realm, err := r.data(what + " realm")
	if err != nil {
		return p, err
	}
	p.Realm = string(realm)
	if n > 0 {
		p.Components = make([]string, n)
	}
	for i := range p.Components {
		s, err := r.data(what + " component")
		if err != nil {
			return p, err
		}
		p.Components[i] = string(s)
	}
	return p, nil
}

// credential reads one credential entry.
func (r *reader) credential(version uint8) (Credential, error) {
	var c Credential
	var err error
	if c.Client, err = r.principal("client"); err != nil {
		return c, err
	}
	if c.Server, err = r.principal("server"); err != nil {
		return c, err
	}
	if c.Key, err = r.keyblock(version); err != nil {
		return c, err
	}
	if err = r.times(&c); err != nil {
		return c, err
	}
	skey, err := r.u8("is_skey")
	if err != nil {
		return c, err
	}
	c.IsSKey = skey != 0
	if c.Flags, err = r.u32("ticket flags"); err != nil {
		return c, err
	}
	if c.Addresses, err = r.addresses(); err != nil {
		return c, err
	}
	if c.AuthData, err = r.authData(); err != nil {
		return c, err
	}
	if c.Ticket, err = r.data("ticket"); err != nil {
		return c, err
	}
	c.SecondTicket, err = r.data("second ticket")
	return c, err
}

// keyblock reads the enctype (twice in version 3, where MIT ignores the
// second copy) and the key bytes.
func (r *reader) keyblock(version uint8) (types.EncryptionKey, error) {
	var k types.EncryptionKey
	et, err := r.u16("key enctype")
	if err != nil {
		return k, err
	}
	if version == Version3 {
		if _, err := r.u16("key enctype (repeated)"); err != nil {
			return k, err
		}
	}
	k.KeyType = int32(et)
	k.KeyValue, err = r.data("key")
	return k, err
}

func (r *reader) times(c *Credential) error {
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"authtime", &c.AuthTime}, {"starttime", &c.StartTime}, {"endtime", &c.EndTime}, {"renew_till", &c.RenewTill}} {
		v, err := r.u32(f.name)
		if err != nil {
			return err
		}
		*f.dst = timeFromWire(v)
	}
	return nil
}

func (r *reader) addresses() ([]types.HostAddress, error) {
	n, err := r.count("address count", 6)
	if err != nil || n == 0 {
		return nil, err
	}
	addrs := make([]types.HostAddress, n)
	for i := range addrs {
		t, err := r.u16("address type")
		if err != nil {
			return nil, err
		}
		addrs[i].AddrType = int32(t)
		if addrs[i].Address, err = r.data("address"); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

func (r *reader) authData() ([]types.AuthorizationDataEntry, error) {
	n, err := r.count("authdata count", 6)
	if err != nil || n == 0 {
		return nil, err
	}
	ad := make([]types.AuthorizationDataEntry, n)
	for i := range ad {
		t, err := r.u16("authdata type")
		if err != nil {
			return nil, err
		}
		// MIT sign-extends the 16-bit ad-type: negative types exist.
		ad[i].ADType = int32(int16(t))
		if ad[i].ADData, err = r.data("authdata"); err != nil {
			return nil, err
		}
	}
	return ad, nil
}

// timeFromWire maps 0 to the zero time and anything else to UTC seconds.
func timeFromWire(v uint32) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(int64(v), 0).UTC()
}
