package ldapsync

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/passkdc/passkdc/store"
)

// mirrorSnapshot renders the directory mirror of any store.Store as text,
// without the fields that depend on when or how it was synced (SyncedAt,
// Generation, ChangeMark), for comparing two stores. Deleted principals are
// left out unless withDeleted (a fresh full sync never saw them).
func mirrorSnapshot(ctx context.Context, st store.Store, dir string, withDeleted bool) (string, error) {
	var b strings.Builder
	ps, err := st.ListPrincipals(ctx, store.PrincipalFilter{Directory: dir, IncludeDeleted: true})
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		if p.Deleted && !withDeleted {
			continue
		}
		fmt.Fprintf(&b, "P %s name=%s realm=%s upn=%s sid=%s dn=%s display=%q enabled=%v deleted=%v expires=%s\n",
			p.Anchor, p.Name, p.Realm, p.UPN, p.SID, strings.ToLower(p.DN), p.DisplayName, p.Enabled, p.Deleted,
			p.Expires.UTC().Format(time.RFC3339))
		if p.Deleted {
			continue
		}
		gs, err := st.TransitiveGroups(ctx, p.Anchor)
		if err != nil {
			return "", err
		}
		for _, g := range gs {
			fmt.Fprintf(&b, "  in %s\n", g.Name)
		}
	}
	gs, err := st.ListGroups(ctx, dir)
	if err != nil {
		return "", err
	}
	for _, g := range gs {
		fmt.Fprintf(&b, "G %s name=%s dn=%s sid=%s\n", g.Anchor, g.Name, strings.ToLower(g.DN), g.SID)
		up, err := st.TransitiveGroups(ctx, g.Anchor)
		if err != nil {
			return "", err
		}
		for _, u := range up {
			fmt.Fprintf(&b, "  in %s\n", u.Name)
		}
	}
	return b.String(), nil
}
