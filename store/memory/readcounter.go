package memory

import (
	"context"
	"sync/atomic"

	"github.com/passkdc/passkdc/store"
)

// ReadCounter wraps any store and counts the principal and group reads
// that reach it (GetPrincipal, TransitiveGroups): tests of what sits above
// the store (the sign-in view, the server) check with it which reads a
// cache saved.
type ReadCounter struct {
	store.Store
	principals, groups atomic.Int64
}

// CountReads wraps s.
func CountReads(s store.Store) *ReadCounter { return &ReadCounter{Store: s} }

// GetPrincipal counts one principal read.
func (c *ReadCounter) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	c.principals.Add(1)
	return c.Store.GetPrincipal(ctx, anchor)
}

// TransitiveGroups counts one group read.
func (c *ReadCounter) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	c.groups.Add(1)
	return c.Store.TransitiveGroups(ctx, member)
}

// Reads is how many principal and group reads reached the store so far.
func (c *ReadCounter) Reads() (principals, groups int64) {
	return c.principals.Load(), c.groups.Load()
}
