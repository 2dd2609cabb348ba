package ldapsync

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// TokenGroups returns the SIDs of every group the AD object dn belongs to,
// directly or through nesting, including builtin domain-local groups: the
// constructed tokenGroups attribute, which is what the DC checks an RODC's
// replication policy against.
func TokenGroups(ctx context.Context, c SearchConn, dn string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"tokenGroups"}, nil)
	res, err := c.Search(req)
	if err != nil {
		return nil, wrapLDAP("read tokenGroups", dn, err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, dn)
	}
	raw := res.Entries[0].GetRawAttributeValues("tokenGroups")
	sids := make([]string, 0, len(raw))
	for _, b := range raw {
		s, err := DecodeSID(b)
		if err != nil {
			return nil, fmt.Errorf("%w: tokenGroups of %s: %w", ErrBadSID, dn, err)
		}
		sids = append(sids, s)
	}
	return sids, nil
}
