package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/passkdc/passkdc/store"
)

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("dry run")

// apply writes the pass in one transaction. A full pass stamps everything
// with a new generation and marks the rest deleted.
func (p *pass) apply(ctx context.Context, full bool) error {
	st := p.s.o.Store
	gen := p.state.Generation
	if full {
		if p.opts.DryRun {
			gen++ // every committed row has Generation <= state.Generation
		} else {
			var err error
			if gen, err = st.NextGeneration(ctx, p.s.o.Directory); err != nil {
				return fmt.Errorf("ldapsync: new generation: %w", err)
			}
		}
	}
	total := 0
	if p.sp != nil {
		total = p.sp.n
	}
	p.progress("apply", 0, total)
	t0 := time.Now()
	defer func() { p.sum.Apply = time.Since(t0) }()
	err := st.WithTx(ctx, func(tx store.Tx) error {
		if err := p.applyGroups(ctx, tx, gen, full); err != nil {
			return err
		}
		if err := p.applyUsers(ctx, tx, gen); err != nil {
			return err
		}
		if err := p.applyDeletions(ctx, tx, gen, full); err != nil {
			return err
		}
		if err := p.putState(ctx, tx, gen, full); err != nil {
			return err
		}
		if p.opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ldapsync: store: %w", err)
	}
	return nil
}

func (p *pass) applyGroups(ctx context.Context, tx store.Tx, gen int64, full bool) error {
	now := p.s.o.Now().UTC()
	before := map[string]bool{}
	if full {
		existing, err := tx.ListGroups(ctx, p.s.o.Directory)
		if err != nil {
			return err
		}
		for _, g := range existing {
			before[g.Anchor] = true
		}
	}
	for _, ge := range p.groups {
		g := ge.Group
		g.Directory, g.SyncedAt, g.Generation, g.Deleted = p.s.o.Directory, now, gen, false
		old, err := tx.GetGroup(ctx, g.Anchor)
		if errors.Is(err, store.ErrNotFound) || err == nil && old.Deleted {
			p.sum.GroupsNew++
		} else if err != nil {
			return err
		}
		delete(before, g.Anchor)
		if _, err := tx.UpsertGroup(ctx, g); err != nil {
			return err
		}
		if err := tx.SetMemberships(ctx, g.Anchor, p.gdirect[g.Anchor]); err != nil {
			return err
		}
	}
	p.sum.GroupsDel += len(before)
	return nil
}

func (p *pass) applyUsers(ctx context.Context, tx store.Tx, gen int64) error {
	if p.sp == nil {
		return nil
	}
	now := p.s.o.Now().UTC()
	done := 0
	return p.sp.each(func(r spillRecord) error {
		np := r.Principal
		np.Directory, np.SyncedAt, np.Generation, np.Deleted = p.s.o.Directory, now, gen, false
		old, err := tx.GetPrincipal(ctx, np.Anchor)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p.sum.Added++
		case err != nil:
			return err
		default:
			p.count(old, np)
		}
		if _, err := tx.UpsertPrincipal(ctx, np); err != nil {
			return err
		}
		if err := tx.SetMemberships(ctx, np.Anchor, r.Groups); err != nil {
			return err
		}
		if done++; done%500 == 0 || done == p.sp.n {
			p.progress("apply", done, p.sp.n)
		}
		return nil
	})
}

// count classifies an update of an existing principal for the summary.
func (p *pass) count(old, np store.Principal) {
	if samePrincipal(old, np) {
		p.sum.Unchanged++
		return
	}
	p.sum.Changed++
	wasOn := old.Enabled && !old.Deleted
	switch {
	case wasOn && !np.Enabled:
		p.sum.Disabled++
	case !wasOn && np.Enabled:
		p.sum.Enabled++
	}
}

// samePrincipal compares the fields mirrored from the directory (not the
// change mark: it moves on edits of attributes passkdc does not read).
func samePrincipal(a, b store.Principal) bool {
	return a.Name == b.Name && a.Realm == b.Realm && a.UPN == b.UPN && a.SID == b.SID &&
		a.DN == b.DN && a.DisplayName == b.DisplayName && a.Enabled == b.Enabled &&
		a.Deleted == b.Deleted && a.Expires.Equal(b.Expires) && a.Directory == b.Directory
}

func (p *pass) applyDeletions(ctx context.Context, tx store.Tx, gen int64, full bool) error {
	if full {
		n, err := tx.MarkUnseenDeleted(ctx, p.s.o.Directory, gen)
		p.sum.Deleted += n
		return err
	}
	for _, a := range p.deleted {
		if err := p.markDeleted(ctx, tx, a); err != nil {
			return err
		}
	}
	return nil
}

// markDeleted flags the principal or group with this anchor as deleted.
func (p *pass) markDeleted(ctx context.Context, tx store.Tx, anchor string) error {
	now := p.s.o.Now().UTC()
	if pr, err := tx.GetPrincipal(ctx, anchor); err == nil {
		if pr.Deleted {
			return nil
		}
		pr.Deleted, pr.SyncedAt = true, now
		p.sum.Deleted++
		_, err = tx.UpsertPrincipal(ctx, pr)
		return err
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	g, err := tx.GetGroup(ctx, anchor)
	if errors.Is(err, store.ErrNotFound) {
		return nil // never mirrored (outside the filters)
	}
	if err != nil || g.Deleted {
		return err
	}
	g.Deleted, g.SyncedAt = true, now
	p.sum.GroupsDel++
	_, err = tx.UpsertGroup(ctx, g)
	return err
}

func (p *pass) putState(ctx context.Context, tx store.Tx, gen int64, full bool) error {
	now := p.s.o.Now().UTC()
	ns := store.SyncState{
		Directory:    p.s.o.Directory,
		HighWater:    p.highWater(),
		InvocationID: p.cp.InvocationID,
		Generation:   p.state.Generation,
		LastFull:     p.state.LastFull,
		LastSync:     now,
	}
	if full {
		ns.Generation, ns.LastFull = gen, now
	}
	p.sum.HighWater = ns.HighWater
	if err := tx.PutSyncState(ctx, ns); err != nil {
		return err
	}
	_, err := tx.AppendAudit(ctx, store.AuditRecord{
		Time: now, Event: "sync", Result: "ok", Detail: p.sum.withoutDuration(),
	})
	return err
}

// withoutDuration is the summary line for the audit trail (the duration is
// not known inside the transaction).
func (s Summary) withoutDuration() string {
	return fmt.Sprintf("%s sync of %q: %d read, %d added, %d changed, %d disabled, %d re-enabled, %d deleted; groups %d read, %d new, %d deleted; high-water %q",
		s.Mode, s.Directory, s.Read, s.Added, s.Changed, s.Disabled, s.Enabled, s.Deleted, s.Groups, s.GroupsNew, s.GroupsDel, s.HighWater)
}
