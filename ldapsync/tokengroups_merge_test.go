package ldapsync

import (
	"slices"
	"testing"

	"github.com/passkdc/passkdc/store"
)

func TestWithTokenGroups(t *testing.T) {
	mirrored := []store.Group{{Name: "staff", SID: "S-1-5-21-1-2-3-1200"}, {Name: "no-sid"}}
	tests := []struct {
		name   string
		tokens []string
		want   []string // SIDs of the groups added
	}{
		{"none", nil, nil},
		{"already mirrored, other case", []string{"s-1-5-21-1-2-3-1200"}, nil},
		{"builtin reached by nesting", []string{"S-1-5-32-551", "S-1-5-21-1-2-3-1200"}, []string{"S-1-5-32-551"}},
		{"duplicates once", []string{"S-1-5-21-1-2-3-513", "S-1-5-21-1-2-3-513"}, []string{"S-1-5-21-1-2-3-513"}},
		{"unparsable ignored", []string{"junk"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := withTokenGroups(slices.Clone(mirrored), tc.tokens)
			var added []string
			for _, g := range got[len(mirrored):] {
				if g.Name != "" || g.Anchor != "" {
					t.Errorf("added group %+v carries more than a SID", g)
				}
				added = append(added, g.SID)
			}
			if !slices.Equal(added, tc.want) {
				t.Errorf("added %v, want %v", added, tc.want)
			}
		})
	}
}
