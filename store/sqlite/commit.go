package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit. Every standalone write (the Store's own write methods: a
// sign-in's session, counter and audit record, …) is a transaction of its own
// on the one writer connection, and with synchronous=FULL each commit waits
// for an fsync of the WAL. Under concurrent load the writes queue for the
// writer and the fsyncs, not the CPU, bound the throughput. The committer
// runs the writes waiting at the same moment in one transaction, each inside
// a savepoint of its own (a write that fails is rolled back alone, exactly as
// its own transaction would have been), and commits them with one fsync.
// Nothing is acknowledged before that commit: a write returns only when it is
// durable, or with the error of the commit that failed it.
//
// A lone write (no other waiting) runs as before, in its own transaction.
// Store.WithTx goes through the committer too: a sign-in is one WithTx. A
// long caller's function (a sync batch) delays the writes grouped with it,
// which would have waited for the one writer anyway.

// maxGroup bounds the writes of one group transaction.
const maxGroup = 64

// writeReq is one standalone write waiting for the committer.
type writeReq struct {
	ctx  context.Context
	fn   func(x *txn) error
	done chan error // buffered: the committer never blocks on it
	at   time.Time  // when it was submitted
}

// committer owns the writer for standalone writes.
type committer struct {
	s    *Store
	reqs chan *writeReq
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	// largest is the size of the largest group committed so far.
	largest atomic.Int64
	// commits counts the transactions run (alone or grouped).
	commits atomic.Int64
	// linger: how long a lone write that waited for the last commit waits
	// for a second one (0: never). Off in production: measured with
	// BenchmarkSignInFinish on the 2-core VM, 150 µs took two clients from
	// 0.99 to 0.67 commits per sign-in but gained neither CPU nor latency
	// (the fsync is short there); kept to measure on slower disks.
	linger time.Duration
}

func newCommitter(s *Store, linger time.Duration) *committer {
	c := &committer{s: s, reqs: make(chan *writeReq), quit: make(chan struct{}), linger: linger}
	c.wg.Add(1)
	go c.loop()
	return c
}

// errClosed is returned by writes submitted after Close.
var errClosed = errors.New("sqlite: store is closed")

// submit runs fn in a writer transaction, alone or with other writes, and
// returns once it is committed (or failed).
func (c *committer) submit(ctx context.Context, fn func(x *txn) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if c.linger > 0 {
		r.at = time.Now()
	}
	select {
	case c.reqs <- r:
	case <-c.quit:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("sqlite: begin: %w", ctx.Err())
	}
	// Once taken, the write is always answered: waiting for ctx here could
	// return before a commit that includes the write.
	return <-r.done
}

// close stops the committer after the group in progress.
func (c *committer) close() {
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
}

func (c *committer) loop() {
	defer c.wg.Done()
	var timer *time.Timer
	if c.linger > 0 {
		timer = time.NewTimer(time.Hour)
		timer.Stop()
	}
	var idleSince time.Time // when the last group was committed
	for {
		first, ok := c.next()
		if !ok {
			return
		}
		group := c.drain([]*writeReq{first})
		if len(group) == 1 && timer != nil && first.at.Before(idleSince) {
			// It waited for the last commit: writes come back to back,
			// wait a little for a second one.
			timer.Reset(c.linger)
			select {
			case r := <-c.reqs:
				group = c.drain(append(group, r))
			case <-timer.C:
			case <-c.quit:
			}
			timer.Stop()
		}
		c.run(group)
		idleSince = time.Now()
		if ck := c.s.ckpt; ck != nil && ck.overLimit() {
			ck.catchUp(context.Background(), c.s.wdb)
		}
	}
}

// next waits for the next write (ok false: closed); when none is waiting it
// first copies the checkpoint's tail on the idle writer (see checkpoint.go).
func (c *committer) next() (r *writeReq, ok bool) {
	select {
	case r = <-c.reqs:
		return r, true
	default:
	}
	if ck := c.s.ckpt; ck != nil && ck.idle() {
		ck.catchUp(context.Background(), c.s.wdb)
	}
	select {
	case r = <-c.reqs:
		return r, true
	case <-c.quit:
		return nil, false
	}
}

// drain adds the writes waiting now to group, up to maxGroup.
func (c *committer) drain(group []*writeReq) []*writeReq {
	for len(group) < maxGroup {
		select {
		case r := <-c.reqs:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// run commits a group: a lone write in its own transaction, several in one.
func (c *committer) run(group []*writeReq) {
	live := group[:0]
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.done <- fmt.Errorf("sqlite: begin: %w", err)
			continue
		}
		live = append(live, r)
	}
	if len(live) > 0 {
		c.commits.Add(1)
	}
	switch len(live) {
	case 0:
	case 1:
		r := live[0]
		r.done <- c.s.directTx(r.ctx, func(x *txn) error { return guarded(r.fn, x) })
	default:
		if n := int64(len(live)); n > c.largest.Load() {
			c.largest.Store(n)
		}
		c.runGroup(live)
	}
}

// runGroup runs each write in a savepoint of one transaction and commits.
func (c *committer) runGroup(group []*writeReq) {
	results := make([]error, len(group))
	err := c.s.directTx(context.Background(), func(x *txn) error {
		for i, r := range group {
			var err error
			results[i], err = savepoint(r.ctx, x, r.fn)
			if err != nil {
				return err // the savepoint could not be undone: give up the group
			}
		}
		return nil
	})
	for i, r := range group {
		switch {
		case results[i] != nil:
			r.done <- results[i] // rolled back alone; its own error
		case err != nil:
			r.done <- err // the group's commit failed: not written
		default:
			r.done <- nil
		}
	}
}

// savepoint runs fn inside SAVEPOINT w; when fn fails its changes are rolled
// back. It returns fn's error, and a second error when the savepoint itself
// failed (the transaction is then unusable). The savepoint statements are
// prepared on the writer's driver connection (see raw.go).
func savepoint(ctx context.Context, x *txn, fn func(x *txn) error) (fnErr, err error) {
	bg := context.WithoutCancel(ctx)
	if err := x.rawExec(bg, "SAVEPOINT w"); err != nil {
		return err, fmt.Errorf("sqlite: savepoint: %w", err)
	}
	inner := &txn{q: x.q, hc: x.hc}
	if fnErr = guarded(fn, inner); fnErr != nil {
		if err := x.rawExec(bg, "ROLLBACK TO w"); err != nil {
			return fnErr, fmt.Errorf("sqlite: rollback to savepoint: %w", err)
		}
	}
	if err := x.rawExec(bg, "RELEASE w"); err != nil {
		return fnErr, fmt.Errorf("sqlite: release savepoint: %w", err)
	}
	return fnErr, nil
}

// guarded runs fn, turning a panic into an error: the committer goroutine
// serves every writer and must not die with one of them.
func guarded(fn func(x *txn) error, x *txn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sqlite: write panicked: %v", p)
		}
	}()
	return fn(x)
}
