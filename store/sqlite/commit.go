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
// Leader and followers: there is no committer goroutine. A write that finds
// the writer free takes it and commits on its own goroutine (a lone write
// then costs no hand-off to another goroutine and back: two wake-ups). A
// write that finds it taken queues; when the group in progress is
// committed and answered, its leader hands the writer to the first queued
// write, which takes the writes queued by then (up to maxGroup) as its
// group, commits them, and hands on in turn. A lone write runs in its own
// transaction. Store.WithTx goes through the committer too: a sign-in is
// one WithTx. A long caller's function (a sync batch) delays the writes
// grouped with it, which would have waited for the one writer anyway.

// maxGroup bounds the writes of one group transaction.
const maxGroup = 64

// writeReq is one standalone write.
type writeReq struct {
	ctx  context.Context
	fn   func(x *txn) error
	done chan error    // buffered: answered once, never blocks
	turn chan struct{} // buffered: the writer is handed to this write
	at   time.Time     // when it was queued (with linger only)
}

// committer hands the writer from one group of standalone writes to the
// next.
type committer struct {
	s  *Store
	mu sync.Mutex
	// leading: a group holds the writer; queue: the writes waiting for it,
	// in arrival order; closed: Close has begun (no new write is taken).
	leading bool
	queue   []*writeReq
	closed  bool
	free    *sync.Cond // signalled when the writer is released (for close)
	// lastCommit is when the last group was committed (with linger only).
	lastCommit time.Time
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
	c := &committer{s: s, linger: linger}
	c.free = sync.NewCond(&c.mu)
	return c
}

// errClosed is returned by writes submitted after Close.
var errClosed = errors.New("sqlite: store is closed")

// submit runs fn in a writer transaction, alone or with other writes, and
// returns once it is committed (or failed).
func (c *committer) submit(ctx context.Context, fn func(x *txn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return errClosed
	case !c.leading:
		c.leading = true
		c.mu.Unlock()
		c.lead([]*writeReq{r})
		return <-r.done
	}
	r.turn = make(chan struct{}, 1)
	if c.linger > 0 {
		r.at = time.Now()
	}
	c.queue = append(c.queue, r)
	c.mu.Unlock()
	return c.wait(r)
}

// wait waits, queued, for r's answer or its turn to lead. A write whose ctx
// ends while it is still queued leaves the queue; once taken into a group
// it is always answered: returning earlier could return before a commit
// that includes it.
func (c *committer) wait(r *writeReq) error {
	select {
	case err := <-r.done:
		return err
	case <-r.turn:
		return c.leadQueued(r)
	case <-r.ctx.Done():
	}
	if c.dequeue(r) {
		return fmt.Errorf("sqlite: begin: %w", r.ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-r.turn:
		return c.leadQueued(r)
	}
}

// dequeue removes r from the queue; false when it was already taken.
func (c *committer) dequeue(r *writeReq) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, q := range c.queue {
		if q == r {
			c.queue = append(c.queue[:i], c.queue[i+1:]...)
			return true
		}
	}
	return false
}

// leadQueued commits r, handed the writer, with the writes queued by now.
func (c *committer) leadQueued(r *writeReq) error {
	group := []*writeReq{r}
	if c.linger > 0 && c.waitedForCommit(r) && c.queueLen() == 0 {
		// It waited for the last commit: writes come back to back,
		// give a second one a moment to arrive.
		time.Sleep(c.linger)
	}
	c.mu.Lock()
	group = c.take(group)
	c.mu.Unlock()
	c.lead(group)
	return <-r.done
}

func (c *committer) waitedForCommit(r *writeReq) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return r.at.Before(c.lastCommit)
}

func (c *committer) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// take moves queued writes into group, up to maxGroup; c.mu is held.
func (c *committer) take(group []*writeReq) []*writeReq {
	n := min(len(c.queue), maxGroup-len(group))
	group = append(group, c.queue[:n]...)
	c.queue = append(c.queue[:0], c.queue[n:]...)
	return group
}

// lead commits group on the writer, which its caller holds, and passes the
// writer on.
func (c *committer) lead(group []*writeReq) {
	if ck := c.s.ckpt; ck != nil && ck.overLimit() {
		ck.catchUp(context.Background(), c.s.wdb) // see checkpoint.go
	}
	c.run(group)
	c.handOff()
}

// handOff passes the writer to the first queued write, or releases it. When
// none is waiting and the WAL has outgrown its limit, a goroutine of its own
// first copies the WAL's tail on the idle writer (see checkpoint.go), so
// that no caller waits for it.
func (c *committer) handOff() {
	c.mu.Lock()
	if c.linger > 0 {
		c.lastCommit = time.Now()
	}
	if len(c.queue) > 0 {
		next := c.queue[0]
		c.queue = append(c.queue[:0], c.queue[1:]...)
		c.mu.Unlock()
		next.turn <- struct{}{}
		return
	}
	if ck := c.s.ckpt; ck != nil && !c.closed && ck.overLimit() {
		c.mu.Unlock()
		go func() {
			ck.catchUp(context.Background(), c.s.wdb)
			c.handOff()
		}()
		return
	}
	c.leading = false
	c.mu.Unlock()
	c.free.Broadcast()
}

// close refuses new writes, fails the queued ones and waits for the group
// in progress.
func (c *committer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, r := range c.queue {
		r.done <- errClosed
	}
	c.queue = nil
	for c.leading {
		c.free.Wait()
	}
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
