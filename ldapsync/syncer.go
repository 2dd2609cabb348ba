package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/view"
)

// SearchConn is the part of *ldap.Conn the syncer uses; tests substitute a fake.
type SearchConn interface {
	Search(*ldap.SearchRequest) (*ldap.SearchResult, error)
	Close() error
}

var _ SearchConn = (*ldap.Conn)(nil)

// DialFunc opens a bound connection to the directory. Failures should wrap
// ErrUnreachable, ErrTLS or ErrBadCredentials (as Dial does).
type DialFunc func(ctx context.Context) (SearchConn, error)

// Options configure a Syncer.
type Options struct {
	Directory    string // store directory name; default "default"
	UserBaseDN   string // required
	GroupBaseDN  string // default UserBaseDN
	Flavour      Flavour
	PageSize     int           // default 500
	FullInterval time.Duration // a full pass at least this often; default 24h
	LiveCheck    bool          // LiveLookup reads the directory (else the mirror only)
	MaxStaleness time.Duration // default 1h
	// MaxIncremental is the number of changed entries beyond which an
	// incremental pass gives way to a full one; default 5000.
	MaxIncremental int
	Dial           DialFunc
	Store          store.Store
	// View, when set, is a view of Store (store/view) that LiveLookup reads
	// the mirror's principal and groups through, valid by the store's change
	// marker, instead of querying them on every sign-in.
	View     *view.View
	SpillDir string           // staging files; default os.TempDir()
	Now      func() time.Time // default time.Now
	Logger   logrus.FieldLogger
}

// Syncer mirrors one directory into the store. It is safe for concurrent
// use; sync passes are serialised.
type Syncer struct {
	o  Options
	mu sync.Mutex // one pass at a time
	// fallbacks counts live checks answered from the mirror because the
	// directory could not be reached.
	fallbacks atomic.Uint64
}

// MirrorFallbacks is how many live checks were answered from the mirror
// because the directory could not be reached (exported as a metric).
func (s *Syncer) MirrorFallbacks() uint64 { return s.fallbacks.Load() }

// New checks the options and fills in defaults.
func New(o Options) (*Syncer, error) {
	switch {
	case o.Flavour == nil:
		return nil, errors.New("ldapsync: no directory flavour")
	case o.Dial == nil:
		return nil, errors.New("ldapsync: no dial function")
	case o.Store == nil:
		return nil, errors.New("ldapsync: no store")
	case o.UserBaseDN == "":
		return nil, errors.New("ldapsync: no user base DN")
	}
	if o.Directory == "" {
		o.Directory = "default"
	}
	if o.GroupBaseDN == "" {
		o.GroupBaseDN = o.UserBaseDN
	}
	if o.PageSize <= 0 {
		o.PageSize = 500
	}
	if o.FullInterval <= 0 {
		o.FullInterval = 24 * time.Hour
	}
	if o.MaxStaleness <= 0 {
		o.MaxStaleness = time.Hour
	}
	if o.MaxIncremental <= 0 {
		o.MaxIncremental = 5000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
	return &Syncer{o: o}, nil
}

// SyncOptions select what one pass does.
type SyncOptions struct {
	Full     bool         // force a full pass
	DryRun   bool         // compute the summary, write nothing
	Progress ProgressFunc // nil: no progress reports
}

// Progress is reported while a pass runs.
type Progress struct {
	Phase string // "groups", "users", "changes", "apply"
	Done  int
	Total int // 0 when unknown (LDAP does not say how many entries a search will return)
}

// ProgressFunc receives progress reports, from the goroutine running Sync.
type ProgressFunc func(Progress)

// Summary describes a finished pass.
type Summary struct {
	Directory string        `json:"directory"`
	Mode      string        `json:"mode"`             // "full" or "incremental"
	Reason    string        `json:"reason,omitempty"` // why a full pass (first sync, requested, full_interval, …)
	DryRun    bool          `json:"dry_run"`
	Read      int           `json:"read"`      // user entries read from the directory
	Added     int           `json:"added"`     // new principals
	Changed   int           `json:"changed"`   // principals whose mirrored fields changed (Disabled and Enabled included)
	Disabled  int           `json:"disabled"`  // principals that went from enabled to disabled
	Enabled   int           `json:"enabled"`   // principals that went from disabled to enabled
	Deleted   int           `json:"deleted"`   // principals marked deleted
	Unchanged int           `json:"unchanged"` // principals read again without a change
	Groups    int           `json:"groups"`    // groups read
	GroupsNew int           `json:"groups_new"`
	GroupsDel int           `json:"groups_deleted"`
	HighWater string        `json:"high_water"`
	Duration  time.Duration `json:"duration_ns"`
	// Apply is the part of Duration spent in the store transaction (the
	// store's write lock is held that long).
	Apply time.Duration `json:"apply_ns"`
}

// String is the one-line summary the CLI prints.
// Fields are the summary as structured log fields: one log line per sync
// carries every count.
func (s Summary) Fields() logrus.Fields {
	f := logrus.Fields{
		"directory": s.Directory, "mode": s.Mode, "dry_run": s.DryRun,
		"read": s.Read, "added": s.Added, "changed": s.Changed, "disabled": s.Disabled, "enabled": s.Enabled,
		"deleted": s.Deleted, "unchanged": s.Unchanged, "groups": s.Groups, "groups_new": s.GroupsNew,
		"groups_deleted": s.GroupsDel, "duration_ms": s.Duration.Milliseconds(), "apply_ms": s.Apply.Milliseconds(),
	}
	if s.Reason != "" {
		f["reason"] = s.Reason
	}
	return f
}

func (s Summary) String() string {
	dry := ""
	if s.DryRun {
		dry = " (dry run: nothing written)"
	}
	why := ""
	if s.Reason != "" {
		why = " (" + s.Reason + ")"
	}
	return fmt.Sprintf("%s sync%s of %q: %d users read, %d added, %d changed, %d disabled, %d re-enabled, %d deleted, %d unchanged; %d groups read, %d new, %d deleted; in %s (store %s)%s",
		s.Mode, why, s.Directory, s.Read, s.Added, s.Changed, s.Disabled, s.Enabled, s.Deleted, s.Unchanged,
		s.Groups, s.GroupsNew, s.GroupsDel, s.Duration.Round(time.Millisecond), s.Apply.Round(time.Millisecond), dry)
}

// Sync runs one pass: incremental when possible, full when asked, on the first
// run, when full_interval has elapsed or when the directory's database changed.
// It returns after the store has been updated (or, on error, left as it was).
func (s *Syncer) Sync(ctx context.Context, so SyncOptions) (Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.o.Now()
	st, err := s.o.Store.GetSyncState(ctx, s.o.Directory)
	if err != nil {
		return Summary{}, fmt.Errorf("ldapsync: sync state: %w", err)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer conn.Close()
	p := &pass{s: s, conn: conn, state: st, opts: so, start: start}
	defer p.close()
	p.sum.Directory, p.sum.DryRun = s.o.Directory, so.DryRun
	reason := s.fullReason(st, so, start)
	if reason == "" {
		reason, err = p.incremental(ctx)
	}
	if err == nil && reason != "" {
		p.reset()
		p.sum.Reason = reason
		err = p.full(ctx)
	}
	p.sum.Duration = s.o.Now().Sub(start)
	if err != nil {
		return p.sum, err
	}
	s.o.Logger.WithFields(p.sum.Fields()).Info("directory synced")
	return p.sum, nil
}

func (s *Syncer) fullReason(st store.SyncState, so SyncOptions, now time.Time) string {
	switch {
	case so.Full:
		return "requested"
	case st.LastFull.IsZero() || st.HighWater == "":
		return "first sync"
	case now.Sub(st.LastFull) >= s.o.FullInterval:
		return "full_interval elapsed"
	}
	return ""
}

// dial connects and arranges for the connection to close when ctx ends, so a
// cancelled pass does not wait for a slow search.
// Ping connects and binds to the directory, then closes the connection.
func (s *Syncer) Ping(ctx context.Context) error {
	c, err := s.dial(ctx)
	if err != nil {
		return err
	}
	return c.Close()
}

func (s *Syncer) dial(ctx context.Context) (SearchConn, error) {
	c, err := s.o.Dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	return &ctxConn{SearchConn: c, stop: stop}, nil
}

type ctxConn struct {
	SearchConn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.SearchConn.Close()
}

// pagedSearch runs req with the simple paged results control and calls fn for
// each entry as pages arrive, so memory holds one page at a time.
func pagedSearch(ctx context.Context, c SearchConn, req *ldap.SearchRequest, pageSize int, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(pageSize))
	req.Controls = append(req.Controls, paging)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := c.Search(req)
		if err != nil {
			return searchErr(ctx, req, err)
		}
		for _, e := range res.Entries {
			err := completeRanges(ctx, c, e)
			if err == nil {
				err = fn(e)
			}
			if err != nil {
				abandonPaging(c, req, paging)
				return err
			}
		}
		ctl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctl.Cookie)
	}
}

// abandonPaging tells the server to drop the paged search's state (size 0).
func abandonPaging(c SearchConn, req *ldap.SearchRequest, paging *ldap.ControlPaging) {
	paging.PagingSize = 0
	_, _ = c.Search(req)
}

// searchErr wraps a search failure; a network failure (or a cancelled
// context, which closes the connection) matches ErrUnreachable.
func searchErr(ctx context.Context, req *ldap.SearchRequest, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ldapsync: search %q: %w", req.BaseDN, ctx.Err())
	}
	return fmt.Errorf("ldapsync: search %q %s: %w", req.BaseDN, req.Filter, wrapLDAP("search", req.BaseDN, err))
}

// readEntry reads one entry by base search; ErrNotFound when there is none.
func readEntry(ctx context.Context, c SearchConn, dn string, attrs []string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attrs, nil)
	return searchOne(ctx, c, req)
}

// searchOne returns the single entry req finds, its ranged attributes
// completed; ErrNotFound for none (or result 32), an error for several.
func searchOne(ctx context.Context, c SearchConn, req *ldap.SearchRequest) (*ldap.Entry, error) {
	e, err := searchOneRaw(ctx, c, req)
	if err != nil {
		return nil, err
	}
	if err := completeRanges(ctx, c, e); err != nil {
		return nil, err
	}
	return e, nil
}

// searchOneRaw is searchOne with the entry as the server sent it.
func searchOneRaw(ctx context.Context, c SearchConn, req *ldap.SearchRequest) (*ldap.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res, err := c.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, req.BaseDN)
	}
	if err != nil {
		return nil, searchErr(ctx, req, err)
	}
	switch len(res.Entries) {
	case 0:
		return nil, fmt.Errorf("%w: %s %s", ErrNotFound, req.BaseDN, req.Filter)
	case 1:
		return res.Entries[0], nil
	}
	return nil, fmt.Errorf("ldapsync: search %q %s: %d entries, want one", req.BaseDN, req.Filter, len(res.Entries))
}
