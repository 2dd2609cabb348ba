package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"modernc.org/sqlite"
)

// Checkpoints off the commit path. SQLite's automatic checkpoint runs inside
// the COMMIT of whichever write takes the WAL past 1,000 pages: that commit
// (and every write grouped with it or queued behind it) waits while the
// pages are copied into the database file and the file is fsynced. Here the
// writer has wal_autocheckpoint off; it counts the pages its commits write,
// and a checkpointer goroutine runs PASSIVE checkpoints on a connection of
// its own, concurrently with the writer and the readers: when the pages
// written since the last checkpoint pass checkpointPages, and on a ticker
// while any were written. PASSIVE never waits for a lock and never blocks a
// writer or a reader; a checkpoint that could not run (another process's
// checkpointer holds the lock) or could not copy every frame is completed by
// the next one.
//
// The WAL starts again from its beginning only when a write transaction
// begins with every frame copied; under load the writer is always ahead of
// a concurrent checkpoint (measured: the WAL grew past 90 MiB in 3,000
// sign-ins of BenchmarkSignInFinish). So once the WAL passes
// walLimitFactor × checkpointPages frames, the tail (the background
// checkpoints have copied the rest) is copied on the writer itself, between
// two groups: by a goroutine holding the writer when it is released with no
// write waiting (see committer.handOff), else by the next group's leader
// before its group. That costs a few pages and one fsync of the database
// file every 4,000 frames, instead of a whole checkpoint inside a commit
// every 1,000. (Copying the tail on the writer after every checkpoint
// instead kept the WAL near 8 MiB but put that fsync in front of a write
// four times as often: p99 at 1 and 2 clients 1.06-1.15 and 2.2-2.3 ms
// against 0.70-0.89 and 1.28-1.43 ms.)
//
// Durability is unchanged: a commit is durable once the WAL is fsynced, as
// before; a checkpoint copies committed pages and fsyncs the database file
// before the WAL is reused. Close stops the checkpointer before the writer
// closes, and the writer, the last connection, checkpoints the whole WAL and
// removes it (SQLite's checkpoint on close).

// Defaults of the checkpointer.
const (
	// checkpointPages: a checkpoint is due once the writer has written this
	// many WAL pages since the last one (SQLite's auto-checkpoint default).
	checkpointPages = 1000
	// checkpointEvery: while pages were written, a checkpoint runs at least
	// this often (idle, none run).
	checkpointEvery = 250 * time.Millisecond
	// walLimitFactor: past this many times checkpointPages WAL frames (16 MiB
	// of 4 KiB pages) the tail is copied on the writer between two
	// groups.
	walLimitFactor = 4
)

// checkpointer runs the background checkpoints of one Store.
type checkpointer struct {
	db    *sql.DB // its own connection, not a reader's nor the writer's
	path  string
	log   logrus.FieldLogger
	pages int64 // checkpointPages, lower in tests
	// written counts the WAL pages written since the last checkpoint began.
	written atomic.Int64
	kick    chan struct{} // buffered (1): a checkpoint is due
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
	// frames is the WAL's length at the last checkpoint (either
	// connection's); 0 after a complete one on the idle writer.
	frames atomic.Int64
	// runs counts the background checkpoints, writerRuns those on the writer.
	runs, writerRuns atomic.Int64
	failing          bool // only touched by loop
}

func newCheckpointer(db *sql.DB, path string, pages int64, every time.Duration, log logrus.FieldLogger) *checkpointer {
	c := &checkpointer{db: db, path: path, pages: pages, log: log,
		kick: make(chan struct{}, 1), quit: make(chan struct{})}
	c.wg.Add(1)
	go c.loop(every)
	return c
}

// wrote records n WAL pages written by a commit and, past the threshold,
// wakes the checkpointer. It never blocks.
func (c *checkpointer) wrote(n int64) {
	if n <= 0 || c.written.Add(n) < c.pages {
		return
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop(every time.Duration) {
	defer c.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		case <-tick.C:
			if c.written.Load() == 0 {
				continue
			}
		}
		c.written.Store(0)
		c.report(c.checkpoint(context.Background()))
	}
}

// checkpoint runs one PASSIVE checkpoint on the checkpointer's connection.
func (c *checkpointer) checkpoint(ctx context.Context) error {
	c.runs.Add(1)
	log, _, err := passive(ctx, c.db)
	c.frames.Store(log)
	return err
}

// passive runs a PASSIVE checkpoint on db: log is the WAL's length in
// frames, all reports that every one of them was copied. SQLITE_BUSY
// (another connection's checkpoint is running) is not an error: the next
// one catches up.
func passive(ctx context.Context, db *sql.DB) (log int64, all bool, err error) {
	var busy, done int64
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done)
	if err != nil {
		if isBusy(err) {
			return log, false, nil
		}
		return log, false, fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return log, busy == 0 && done >= log, nil
}

// overLimit reports whether the WAL has outgrown walLimitFactor × pages.
func (c *checkpointer) overLimit() bool { return c.frames.Load() >= walLimitFactor*c.pages }

// catchUp checkpoints on the writer's pool (called by whoever holds the
// writer, between groups) and logs a failure.
func (c *checkpointer) catchUp(ctx context.Context, writer *sql.DB) {
	c.writerRuns.Add(1)
	if _, _, err := passive(ctx, writer); err != nil {
		c.log.WithField("path", c.path).WithError(err).Warn("sqlite: checkpoint on the writer failed")
	}
	// Complete, the writer's next write starts the WAL again. Incomplete (a
	// reader of another process holds an old snapshot), it is tried again
	// after the next background checkpoint, not before every group.
	c.frames.Store(0)
}

// report logs the first error of a streak, and the recovery after one; a
// failed checkpoint is retried by the next and never fails a write.
func (c *checkpointer) report(err error) {
	log := c.log.WithField("path", c.path)
	switch {
	case err != nil && !c.failing:
		log.WithError(err).Warn("sqlite: background checkpoint failed; the WAL grows until one succeeds")
	case err == nil && c.failing:
		log.Info("sqlite: background checkpoint succeeded again")
	}
	c.failing = err != nil
}

// close stops the checkpointer after the checkpoint in progress and closes
// its connection.
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.quit) })
	c.wg.Wait()
	return c.db.Close()
}

// walPages returns the WAL pages hc has written since the last call: the
// driver's page-write counter, which counts WAL frames in WAL mode. Without
// the counter it returns 1, so that the ticker still checkpoints.
func walPages(hc *hotConn) int64 {
	st, ok := hc.driverConn.(sqlite.DBStatus)
	if !ok {
		return 1
	}
	n, _, err := st.Status(sqlite.DBStatusCacheWrite, true)
	if err != nil {
		return 1
	}
	return int64(n)
}
