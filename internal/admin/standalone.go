package admin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/passkdc/passkdc/kdc/sid"
	"github.com/passkdc/passkdc/store"
)

// ErrDirectoryOwned refuses a change to principals or groups when a directory
// is configured: the directory is their source, a sync would undo the change.
var ErrDirectoryOwned = errors.New("principals and groups come from the directory in this configuration: change them there and run passkdc sync (these commands are for standalone mode)")

// Standalone changes principals and groups of a standalone deployment (no
// directory); every change is one audit record.
type Standalone struct {
	Store     store.Store
	Realm     string
	Directory string // store directory name, "default"
	By        string // who acts, for the audit record
	Now       func() time.Time
}

// PrincipalChange is what "principal add" and "principal set" change; nil
// fields are left as they are.
type PrincipalChange struct {
	SID          *string
	UPN          *string
	DisplayName  *string
	Enabled      *bool
	AddGroups    []string // group names
	RemoveGroups []string
}

// AddPrincipal creates a principal named name (ErrExists when it exists).
func (s Standalone) AddPrincipal(ctx context.Context, name string, c PrincipalChange) (store.Principal, error) {
	if c.SID == nil || *c.SID == "" {
		return store.Principal{}, errors.New("--sid is required: the user's SID (S-1-5-21-…-RID) goes into the ticket's PAC")
	}
	anchor, err := newUUID()
	if err != nil {
		return store.Principal{}, err
	}
	enabled := true
	if c.Enabled == nil {
		c.Enabled = &enabled
	}
	p := store.Principal{Anchor: anchor, Directory: s.Directory, Name: name, Realm: s.Realm}
	err = s.Store.WithTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetPrincipalByName(ctx, s.Realm, name); err == nil {
			return fmt.Errorf("principal %s@%s exists already (passkdc principal set changes it): %w", name, s.Realm, store.ErrExists)
		}
		return s.apply(ctx, tx, &p, c, "principal.add")
	})
	return p, err
}

// SetPrincipal changes the principal named name.
func (s Standalone) SetPrincipal(ctx context.Context, name string, c PrincipalChange) (store.Principal, error) {
	var p store.Principal
	err := s.Store.WithTx(ctx, func(tx store.Tx) error {
		var err error
		if p, err = s.principal(ctx, tx, name); err != nil {
			return err
		}
		return s.apply(ctx, tx, &p, c, "principal.set")
	})
	return p, err
}

// RemovePrincipal marks the principal deleted (kept for the audit trail) and
// revokes its passkeys: it can no longer sign in or enrol.
func (s Standalone) RemovePrincipal(ctx context.Context, name string) error {
	return s.Store.WithTx(ctx, func(tx store.Tx) error {
		p, err := s.principal(ctx, tx, name)
		if err != nil {
			return err
		}
		now := s.Now().UTC()
		p.Deleted, p.Enabled, p.SyncedAt = true, false, now
		if _, err := tx.UpsertPrincipal(ctx, p); err != nil {
			return err
		}
		creds, err := tx.ListCredentials(ctx, p.Anchor)
		if err != nil {
			return err
		}
		for _, c := range creds {
			if c.RevokedAt.IsZero() {
				if err := tx.RevokeCredential(ctx, c.ID, now); err != nil {
					return err
				}
			}
		}
		return s.audit(ctx, tx, "principal.remove", p.Name, fmt.Sprintf("removed by %s; %d passkey(s) revoked", s.By, len(creds)))
	})
}

// AddGroup creates a group named name with sid.
func (s Standalone) AddGroup(ctx context.Context, name, sid string) error {
	if err := checkSID(sid); err != nil {
		return err
	}
	anchor, err := newUUID()
	if err != nil {
		return err
	}
	return s.Store.WithTx(ctx, func(tx store.Tx) error {
		if _, err := s.group(ctx, tx, name); err == nil {
			return fmt.Errorf("group %s exists already: %w", name, store.ErrExists)
		}
		g := store.Group{Anchor: anchor, Directory: s.Directory, Name: name, SID: sid, SyncedAt: s.Now().UTC()}
		if _, err := tx.UpsertGroup(ctx, g); err != nil {
			return err
		}
		return s.audit(ctx, tx, "group.add", "", fmt.Sprintf("group %s (%s) added by %s", name, sid, s.By))
	})
}

// RemoveGroup marks the group deleted: it no longer counts for anyone.
func (s Standalone) RemoveGroup(ctx context.Context, name string) error {
	return s.Store.WithTx(ctx, func(tx store.Tx) error {
		g, err := s.group(ctx, tx, name)
		if err != nil {
			return err
		}
		g.Deleted = true
		if _, err := tx.UpsertGroup(ctx, g); err != nil {
			return err
		}
		return s.audit(ctx, tx, "group.remove", "", fmt.Sprintf("group %s removed by %s", name, s.By))
	})
}

func (s Standalone) apply(ctx context.Context, tx store.Tx, p *store.Principal, c PrincipalChange, event string) error {
	var changes []string
	if c.SID != nil {
		if err := checkSID(*c.SID); err != nil {
			return err
		}
		p.SID = *c.SID
		changes = append(changes, "sid "+p.SID)
	}
	if c.UPN != nil {
		p.UPN = *c.UPN
		changes = append(changes, "upn "+p.UPN)
	}
	if c.DisplayName != nil {
		p.DisplayName = *c.DisplayName
		changes = append(changes, "display name")
	}
	if c.Enabled != nil {
		p.Enabled = *c.Enabled
		changes = append(changes, fmt.Sprintf("enabled %v", p.Enabled))
	}
	p.SyncedAt = s.Now().UTC()
	if _, err := tx.UpsertPrincipal(ctx, *p); err != nil {
		return err
	}
	if len(c.AddGroups)+len(c.RemoveGroups) > 0 {
		if err := s.memberships(ctx, tx, p.Anchor, c); err != nil {
			return err
		}
		changes = append(changes, "groups +"+strings.Join(c.AddGroups, ",")+" -"+strings.Join(c.RemoveGroups, ","))
	}
	return s.audit(ctx, tx, event, p.Name, fmt.Sprintf("by %s: %s", s.By, strings.Join(changes, "; ")))
}

// memberships adds and removes the principal's direct groups by name.
func (s Standalone) memberships(ctx context.Context, tx store.Tx, anchor string, c PrincipalChange) error {
	direct := map[string]bool{}
	current, err := tx.TransitiveGroups(ctx, anchor)
	if err != nil {
		return err
	}
	// Standalone groups are not nested: the transitive set is the direct set.
	for _, g := range current {
		direct[g.Anchor] = true
	}
	for _, name := range c.AddGroups {
		g, err := s.group(ctx, tx, name)
		if err != nil {
			return err
		}
		direct[g.Anchor] = true
	}
	for _, name := range c.RemoveGroups {
		g, err := s.group(ctx, tx, name)
		if err != nil {
			return err
		}
		delete(direct, g.Anchor)
	}
	anchors := make([]string, 0, len(direct))
	for a := range direct {
		anchors = append(anchors, a)
	}
	return tx.SetMemberships(ctx, anchor, anchors)
}

func (s Standalone) principal(ctx context.Context, tx store.Tx, name string) (store.Principal, error) {
	p, err := tx.GetPrincipalByName(ctx, s.Realm, name)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.Deleted) {
		return p, fmt.Errorf("no principal %s@%s (passkdc principal add creates one): %w", name, s.Realm, ErrNotFound)
	}
	return p, err
}

func (s Standalone) group(ctx context.Context, tx store.Tx, name string) (store.Group, error) {
	groups, err := tx.ListGroups(ctx, s.Directory)
	if err != nil {
		return store.Group{}, err
	}
	for _, g := range groups {
		if strings.EqualFold(g.Name, name) {
			return g, nil
		}
	}
	return store.Group{}, fmt.Errorf("no group %s (passkdc group add creates one): %w", name, ErrNotFound)
}

func (s Standalone) audit(ctx context.Context, tx store.Tx, event, principal, detail string) error {
	_, err := tx.AppendAudit(ctx, store.AuditRecord{Time: s.Now().UTC(), Event: event, Result: "ok", Principal: principal, Detail: detail})
	return err
}

// checkSID accepts a SID in its string form (S-1-…).
func checkSID(s string) error {
	if _, err := sid.Parse(s); err != nil {
		return fmt.Errorf("%q is not a SID (want S-1-5-21-…-RID): %w", s, err)
	}
	return nil
}

// newUUID is a random (version 4) UUID, the anchor of a standalone object.
func newUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b), nil
}
