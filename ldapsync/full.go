package ldapsync

import (
	"context"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/passkdc/passkdc/store"
)

// pass is the state of one sync run.
//
// A run has two phases. Read: groups are read into memory (they are few),
// users are streamed page by page, parsed, validated, resolved to their
// direct groups and staged in a spill file. Apply: one store transaction
// writes the staged records, marks what a full pass did not see as deleted,
// and advances the watermark. A malformed entry, a dropped connection or a
// cancelled context during the read phase leaves the store exactly as it was;
// the apply transaction is all-or-nothing. Readers of the store see the old
// mirror until it commits.
type pass struct {
	s     *Syncer
	conn  SearchConn
	state store.SyncState
	opts  SyncOptions
	start time.Time
	sum   Summary

	cp      Checkpoint
	maxMark string       // newest change mark seen
	groups  []GroupEntry // groups to write, with groupAnchors filled
	gdirect map[string][]string
	deleted []string // anchors reported deleted (incremental, AD)
	ix      *groupIndex
	src     memberSource
	sp      *spill
	// incremental passes only: anchors already staged
	gseen, useen  map[string]bool
	skipUnchanged bool       // drop users whose change mark is mirrored already
	qconn         SearchConn // second connection for querySource
}

// close releases the staging file and the second connection.
func (p *pass) close() {
	if p.sp != nil {
		_ = p.sp.remove()
		p.sp = nil
	}
	if p.qconn != nil {
		_ = p.qconn.Close()
		p.qconn = nil
	}
}

// reset clears what an abandoned incremental attempt collected.
func (p *pass) reset() {
	if p.sp != nil {
		_ = p.sp.remove()
	}
	*p = pass{s: p.s, conn: p.conn, state: p.state, opts: p.opts, start: p.start, qconn: p.qconn,
		sum: Summary{Directory: p.sum.Directory, DryRun: p.sum.DryRun}}
}

func (p *pass) progress(phase string, done, total int) {
	if p.opts.Progress != nil {
		p.opts.Progress(Progress{Phase: phase, Done: done, Total: total})
	}
}

func (p *pass) seeMark(m string) {
	if m != "" && (p.maxMark == "" || p.s.o.Flavour.NewerMark(m, p.maxMark)) {
		p.maxMark = m
	}
}

// full reads every group and user and applies them with a new generation.
func (p *pass) full(ctx context.Context) error {
	o := p.s.o
	p.sum.Mode = "full"
	var err error
	if p.cp, err = o.Flavour.Checkpoint(ctx, p.conn); err != nil {
		return err
	}
	p.ix = newGroupIndex()
	err = p.readGroups(ctx, o.Flavour.GroupFilter(), func(g *GroupEntry) {
		if o.Flavour.Membership() == MembershipMember {
			p.ix.addMembers(g)
			// The inverted index has them now: do not keep the lists twice.
			g.Members, g.MemberUIDs = nil, nil
		}
	})
	if err != nil {
		return err
	}
	p.src = memberOfSource{p.ix}
	if o.Flavour.Membership() == MembershipMember {
		p.src = invertedSource{p.ix}
	}
	if err := p.resolveGroups(ctx); err != nil {
		return err
	}
	if p.sp, err = newSpill(o.SpillDir); err != nil {
		return err
	}
	if err := p.readUsers(ctx, o.Flavour.UserFilter()); err != nil {
		return err
	}
	p.ix.members = nil // every user is resolved; free the edges before the apply
	return p.apply(ctx, true)
}

// readGroups reads the groups matching filter into p.groups and the index.
func (p *pass) readGroups(ctx context.Context, filter string, each func(*GroupEntry)) error {
	o := p.s.o
	req := ldap.NewSearchRequest(o.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, o.Flavour.GroupAttributes(), nil)
	return pagedSearch(ctx, p.conn, req, o.PageSize, func(e *ldap.Entry) error {
		g, err := o.Flavour.ParseGroup(e)
		if err != nil {
			return err
		}
		if each != nil {
			each(&g)
		}
		p.addGroup(g)
		return nil
	})
}

func (p *pass) addGroup(g GroupEntry) {
	if p.gseen != nil {
		if p.gseen[g.Group.Anchor] {
			return
		}
		p.gseen[g.Group.Anchor] = true
	}
	p.groups = append(p.groups, g)
	p.ix.add(g.Group.Anchor, g.Group.DN, g.Group.SID)
	p.seeMark(g.Group.ChangeMark)
	p.sum.Groups++
	p.progress("groups", p.sum.Groups, 0)
}

// resolveGroups computes the direct parent groups of every group read.
func (p *pass) resolveGroups(ctx context.Context) error {
	p.gdirect = make(map[string][]string, len(p.groups))
	for i := range p.groups {
		gs, err := p.src.groupGroups(ctx, &p.groups[i])
		if err != nil {
			return err
		}
		p.gdirect[p.groups[i].Group.Anchor] = gs
	}
	return nil
}

// readUsers streams the users matching filter into the spill file.
func (p *pass) readUsers(ctx context.Context, filter string) error {
	o := p.s.o
	req := ldap.NewSearchRequest(o.UserBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, o.Flavour.UserAttributes(), nil)
	return pagedSearch(ctx, p.conn, req, o.PageSize, func(e *ldap.Entry) error {
		return p.stageUser(ctx, e)
	})
}

func (p *pass) stageUser(ctx context.Context, e *ldap.Entry) error {
	u, err := p.s.o.Flavour.ParseUser(e)
	if err != nil {
		return err
	}
	if skip, err := p.unchangedUser(ctx, &u); skip || err != nil {
		return err
	}
	if p.useen != nil {
		if p.useen[u.Principal.Anchor] {
			return nil
		}
		p.useen[u.Principal.Anchor] = true
		if len(p.useen)+len(p.groups) > p.s.o.MaxIncremental {
			return errTooManyChanges
		}
	}
	gs, err := p.src.userGroups(ctx, &u)
	if err != nil {
		return err
	}
	p.seeMark(u.Principal.ChangeMark)
	p.sum.Read++
	if p.sum.Read%100 == 0 {
		p.progress("users", p.sum.Read, 0)
	}
	return p.sp.add(spillRecord{Principal: u.Principal, Groups: gs})
}

// commitMargin covers changes committed out of change-mark order (a CSN is
// taken when an operation starts, the entry is visible when it commits).
const commitMargin = 10 * time.Second

// highWater is the mark the next incremental pass starts from: the server's
// checkpoint (AD), or else the newest change mark seen moved back by the
// pass's duration and commitMargin. An entry modified while the pass ran, in a
// page already read, has a mark at or after the pass's start, which is no
// earlier than that. The mark never moves backwards.
func (p *pass) highWater() string {
	if p.cp.HighWater != "" {
		return p.cp.HighWater
	}
	prev := ""
	if p.sum.Mode == "incremental" {
		prev = p.state.HighWater
	}
	if p.maxMark == "" {
		return prev
	}
	hw := p.s.o.Flavour.Rewind(p.maxMark, p.s.o.Now().Sub(p.start)+commitMargin)
	if prev != "" && p.s.o.Flavour.NewerMark(prev, hw) {
		return prev
	}
	return hw
}
