package tap

import (
	"strings"
	"testing"
	"time"
)

func TestIssueBoundsAndRecord(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		uses int
		ttl  time.Duration
		err  string
	}{
		{1, time.Hour, ""}, {MaxUses, MaxTTL, ""}, {MinUses, MinTTL, ""},
		{0, time.Hour, "uses"}, {MaxUses + 1, time.Hour, "uses"}, {1, MinTTL - time.Second, "lives"}, {1, MaxTTL + time.Second, "lives"},
	} {
		rec, pass, err := Issue("anchor-1", tc.uses, tc.ttl, "helpdesk hd@R", now)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || pass != "" {
				t.Errorf("Issue(%d, %s) = %v, want an error about %s", tc.uses, tc.ttl, err, tc.err)
			}
			continue
		}
		if err != nil || len(pass) != 24 || string(rec.Hash) != string(Hash(strings.ToLower(pass))) || rec.Principal != "anchor-1" ||
			rec.UsesLeft != tc.uses || !rec.ExpiresAt.Equal(now.Add(tc.ttl)) || rec.CreatedBy != "helpdesk hd@R" || len(rec.ID) != 16 {
			t.Errorf("Issue(%d, %s) = %+v %q %v", tc.uses, tc.ttl, rec, pass, err)
		}
	}
}
