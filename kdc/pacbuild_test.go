package kdc

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/passkdc/passkdc/kdc/pac"
	"github.com/passkdc/passkdc/kdc/sid"
)

// TestConstructedUPNIsToLower: the constructed UPN is name@ToLower(dns) for
// ASCII, mixed and non-ASCII domains (and invalid UTF-8, which ToLower
// replaces), in one allocation for an ASCII domain.
func TestConstructedUPNIsToLower(t *testing.T) {
	for _, dns := range []string{"", "CORP.EXAMPLE.TEST", "corp.example.test", "Corp-1.Ex_ample.TEST",
		"CORP.ÉXAMPLE.TEST", "ÉCOLE.FR", "SOME.DΣMAIN.GR", "BAD.\xff.TEST", "İSTANBUL.TR"} {
		if got, want := constructedUPN("Zoë", dns), "Zoë@"+strings.ToLower(dns); got != want {
			t.Errorf("constructedUPN(%q) = %q, want %q", dns, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = constructedUPN("alice", "CORP.EXAMPLE.TEST") }); n != 1 {
		t.Errorf("constructedUPN: %v allocations, want 1", n)
	}
}

// TestSplitGroups: the primary group first, then the domain's groups as
// RIDs and the others as ExtraSids, each once, in the order first given.
func TestSplitGroups(t *testing.T) {
	dom, err := sid.Parse("S-1-5-21-1-2-3")
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) pac.SID {
		v, err := sid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	groups := []pac.SID{dom.WithRID(1200), dom.WithRID(513), parse("S-1-5-32-545"), parse("S-1-5-21-1-2-4-1200"),
		dom.WithRID(1100), parse("S-1-5-32-545"), dom.WithRID(1200), parse("S-1-5-21-1-2-3-1200-7")}
	rids, extra := splitGroups(nil, dom, 513, groups)
	var gotRIDs []uint32
	for _, r := range rids {
		gotRIDs = append(gotRIDs, r.RelativeID)
		if r.Attributes != pac.DefaultGroupAttributes {
			t.Errorf("RID %d attributes %#x", r.RelativeID, r.Attributes)
		}
	}
	var gotSIDs []string
	for _, e := range extra {
		gotSIDs = append(gotSIDs, e.SID.String())
	}
	if !slices.Equal(gotRIDs, []uint32{513, 1200, 1100}) ||
		!slices.Equal(gotSIDs, []string{"S-1-5-32-545", "S-1-5-21-1-2-4-1200", "S-1-5-21-1-2-3-1200-7"}) {
		t.Errorf("RIDs %v, ExtraSids %v", gotRIDs, gotSIDs)
	}
	if rids, extra := splitGroups(nil, dom, 1200, nil); len(rids) != 1 || rids[0].RelativeID != 1200 || extra != nil {
		t.Errorf("no groups: %v %v", rids, extra)
	}
}

// TestIssuePartialTGTAllocations: the sign-in's partial TGT (ticket and
// signed PAC) is issued in a bounded number of allocations.
func TestIssuePartialTGTAllocations(t *testing.T) {
	key, err := testKey(18, 9, 40000<<16|3).WithDerivedKeys()
	if err != nil {
		t.Fatal(err)
	}
	p := testPrincipal(t)
	p.UPN, p.DNSDomain, p.NetBIOSDomain = "", "", ""
	n := testing.AllocsPerRun(100, func() {
		if _, err := IssuePartialTGT(context.Background(), p, key, DefaultTicketPolicy(), testNow); err != nil {
			t.Fatal(err)
		}
	})
	if n > maxIssueAllocs {
		t.Errorf("IssuePartialTGT: %v allocations, want at most %d", n, maxIssueAllocs)
	}
}

// maxIssueAllocs bounds the allocations of a sign-in's partial TGT: the
// Issued, the PAC content, the constructed UPN, the signed PAC, the two
// EncTicketPart encodings (checksum stand-in, and real, encrypted in place)
// and the Ticket.
const maxIssueAllocs = 7
