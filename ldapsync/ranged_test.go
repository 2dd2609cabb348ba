package ldapsync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// rangedAD answers like AD with MaxValRange = max: an attribute of an
// entry with more values is sent as "attr;range=0-(max-1)", and a base
// search for "attr;range=N-*" gets the next max values (the last range
// ends in "*"). Full values are those the inner directory sent.
type rangedAD struct {
	SearchConn
	max   int
	full  map[string][]string // dn + "\x00" + attr -> every value
	reads int                 // range reads served
}

func (r *rangedAD) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if len(req.Attributes) == 1 && strings.Contains(req.Attributes[0], ";range=") && req.Scope == ldap.ScopeBaseObject {
		name, lo, _, _ := parseRange(req.Attributes[0])
		vals := r.full[req.BaseDN+"\x00"+strings.ToLower(name)]
		r.reads++
		hi := min(lo+r.max, len(vals))
		label := fmt.Sprintf("%s;range=%d-%d", name, lo, hi-1)
		if hi == len(vals) {
			label = fmt.Sprintf("%s;range=%d-*", name, lo)
		}
		return &ldap.SearchResult{Entries: []*ldap.Entry{{DN: req.BaseDN, Attributes: []*ldap.EntryAttribute{
			{Name: label, Values: vals[lo:hi]}}}}}, nil
	}
	res, err := r.SearchConn.Search(req)
	if err != nil {
		return nil, err
	}
	out := &ldap.SearchResult{Controls: res.Controls}
	for _, e := range res.Entries {
		c := &ldap.Entry{DN: e.DN}
		for _, a := range e.Attributes {
			if len(a.Values) > r.max {
				r.full[e.DN+"\x00"+strings.ToLower(a.Name)] = a.Values
				a = &ldap.EntryAttribute{Name: fmt.Sprintf("%s;range=0-%d", a.Name, r.max-1), Values: a.Values[:r.max]}
			}
			c.Attributes = append(c.Attributes, a)
		}
		out.Entries = append(out.Entries, c)
	}
	return out, nil
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		name   string
		lo, hi int
		ok     bool
	}{
		{"member;range=0-1499", "member", 0, 1499, true},
		{"memberOf;Range=1500-*", "memberOf", 1500, -1, true},
		{"member", "", 0, 0, false},
		{"member;range=5-2", "", 0, 0, false},
		{"member;range=x-*", "", 0, 0, false},
		{"member;range=-1-*", "", 0, 0, false},
		{"member;range=7", "", 0, 0, false},
	} {
		name, lo, hi, ok := parseRange(tc.in)
		if name != tc.name || lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("parseRange(%q) = %q %d %d %v, want %q %d %d %v", tc.in, name, lo, hi, ok, tc.name, tc.lo, tc.hi, tc.ok)
		}
	}
}

// TestSyncReadsRangedMemberships: a user in 3,400 groups, on a directory
// that sends memberOf 1,500 values at a time, is mirrored with all 3,400
// (the sync used to see the plain attribute missing and keep none).
func TestSyncReadsRangedMemberships(t *testing.T) {
	ctx := context.Background()
	const n = 3400
	dir := &adScript{usn: "10", invocation: guidN(3)}
	u := adEntry(t, 1, guidN(1))
	var dns []string
	for i := range n {
		dn := fmt.Sprintf("CN=g%d,CN=Users,DC=corp,DC=example,DC=test", i)
		dns = append(dns, dn)
		dir.groups = append(dir.groups, ldap.NewEntry(dn, map[string][]string{
			"sAMAccountName": {fmt.Sprintf("g%d", i)}, "objectGUID": {string(guidN(1000 + i))},
			"objectSid": {mustSIDBytes(t, fmt.Sprintf("S-1-5-21-1-2-3-%d", 20000+i))}, "uSNChanged": {"5"},
		}))
	}
	for _, a := range u.Attributes {
		if a.Name == "memberOf" {
			a.Values, a.ByteValues = dns, nil
		}
	}
	dir.users = []*ldap.Entry{u}
	ranged := &rangedAD{SearchConn: dir, max: 1500, full: map[string][]string{}}
	st := memory.New()
	s := scriptSyncer(t, ranged, st)
	if _, err := s.Sync(ctx, SyncOptions{Full: true}); err != nil {
		t.Fatal(err)
	}
	if ranged.reads != 2 {
		t.Errorf("%d range reads, want 2 (1500-2999, 3000-*)", ranged.reads)
	}
	ps, err := st.ListPrincipals(ctx, store.PrincipalFilter{})
	if err != nil || len(ps) != 1 {
		t.Fatalf("principals %v %v", ps, err)
	}
	gs, err := st.TransitiveGroups(ctx, ps[0].Anchor)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, g := range gs {
		got[g.DN] = true
	}
	for _, dn := range dns {
		if !got[dn] {
			t.Fatalf("%d groups mirrored, want %d; first missing %s", len(got), n, dn)
		}
	}
}

func TestCompleteRangesRefusesAServerThatSkips(t *testing.T) {
	e := &ldap.Entry{DN: "CN=g", Attributes: []*ldap.EntryAttribute{{Name: "member;range=0-1", Values: []string{"a", "b"}}}}
	skipping := connFunc(func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		return &ldap.SearchResult{Entries: []*ldap.Entry{{DN: "CN=g", Attributes: []*ldap.EntryAttribute{
			{Name: "member;range=5-*", Values: []string{"f"}}}}}}, nil
	})
	if err := completeRanges(context.Background(), skipping, e); err == nil || !strings.Contains(err.Error(), "got from 5") {
		t.Fatalf("err = %v", err)
	}
	endless := connFunc(func(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
		_, lo, _, _ := parseRange(req.Attributes[0])
		return &ldap.SearchResult{Entries: []*ldap.Entry{{DN: "CN=g", Attributes: []*ldap.EntryAttribute{
			{Name: fmt.Sprintf("member;range=%d-%d", lo, lo), Values: []string{"x"}}}}}}, nil
	})
	e.Attributes[0] = &ldap.EntryAttribute{Name: "member;range=0-0", Values: []string{"a"}}
	if err := completeRanges(context.Background(), endless, e); err == nil || !strings.Contains(err.Error(), "ranges") {
		t.Fatalf("endless: err = %v", err)
	}
	if !slices.Equal(e.Attributes[0].Values, []string{"a"}) {
		t.Fatal("a failed completion changed the entry")
	}
}

// connFunc is a SearchConn from a function.
type connFunc func(*ldap.SearchRequest) (*ldap.SearchResult, error)

func (f connFunc) Search(r *ldap.SearchRequest) (*ldap.SearchResult, error) { return f(r) }
func (f connFunc) Close() error                                             { return nil }
