// Package dnstest is a tiny authoritative DNS server on UDP for tests: it
// answers SRV and A questions from fixed records, names compared without
// case, and counts the questions it got.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// SRV is one SRV record.
type SRV struct {
	Priority, Weight, Port uint16
	Target                 string // host name, with or without the final dot
}

// Zone holds the records served.
type Zone struct {
	SRV map[string][]SRV      // owner name (e.g. _kerberos._tcp.CORP.EXAMPLE.TEST) -> records
	A   map[string]netip.Addr // host name -> IPv4 address
	TTL uint32                // of every record (0: 300 s)
}

// Server is a running DNS server.
type Server struct {
	Addr string // host:port it listens on (UDP)
	zone Zone

	mu        sync.Mutex
	questions map[string]int // "TYPE name" -> count
}

// Start serves zone on UDP addr (e.g. 127.0.0.33:53, or 127.0.0.1:0 for
// any port) until the test ends.
func Start(t testing.TB, addr string, zone Zone) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatalf("dnstest: listen %s: %v", addr, err)
	}
	if zone.TTL == 0 {
		zone.TTL = 300
	}
	s := &Server{Addr: pc.LocalAddr().String(), zone: zone, questions: map[string]int{}}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out, ok := s.answer(buf[:n]); ok {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

// Questions is how many questions of type ("SRV", "A", "AAAA") for name were asked.
func (s *Server) Questions(typ, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.questions[typ+" "+canonical(name)]
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *Server) answer(req []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(req)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	name := canonical(q.Name.String())
	s.mu.Lock()
	s.questions[strings.TrimPrefix(q.Type.String(), "Type")+" "+name]++
	s.mu.Unlock()

	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: s.zone.TTL}
	found := false
	switch q.Type {
	case dnsmessage.TypeSRV:
		for owner, recs := range s.zone.SRV {
			if canonical(owner) != name {
				continue
			}
			for _, r := range recs {
				found = true
				target := dnsmessage.MustNewName(strings.TrimSuffix(r.Target, ".") + ".")
				_ = b.SRVResource(rh, dnsmessage.SRVResource{Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: target})
			}
		}
	case dnsmessage.TypeA:
		for host, ip := range s.zone.A {
			if canonical(host) == name && ip.Is4() {
				found = true
				_ = b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
			}
		}
	}
	if !found && !s.known(name) {
		b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
		_ = b.StartQuestions()
		_ = b.Question(q)
	}
	out, err := b.Finish()
	return out, err == nil
}

// known reports whether the zone has any record for name (NODATA rather than NXDOMAIN).
func (s *Server) known(name string) bool {
	for owner := range s.zone.SRV {
		if canonical(owner) == name {
			return true
		}
	}
	for host := range s.zone.A {
		if canonical(host) == name {
			return true
		}
	}
	return false
}
