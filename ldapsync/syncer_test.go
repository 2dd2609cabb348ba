package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
)

// adScript is a scripted AD: it answers the RootDSE, the NTDS settings, and
// user / group searches from fixed entries, honouring the paging control.
type adScript struct {
	users, groups []*ldap.Entry
	usn           string
	invocation    []byte
	onSearch      func(*ldap.SearchRequest) error // optional hook
	searches      int
}

func (a *adScript) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	a.searches++
	if a.onSearch != nil {
		if err := a.onSearch(req); err != nil {
			return nil, err
		}
	}
	switch {
	case req.BaseDN == "":
		return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry("", map[string][]string{
			"highestCommittedUSN": {a.usn}, "dsServiceName": {"CN=NTDS Settings,CN=DC1"},
			"defaultNamingContext": {"DC=corp,DC=example,DC=test"},
		})}}, nil
	case strings.HasPrefix(req.BaseDN, "CN=NTDS"):
		return &ldap.SearchResult{Entries: []*ldap.Entry{ldap.NewEntry(req.BaseDN, map[string][]string{
			"invocationId": {string(a.invocation)},
		})}}, nil
	case strings.Contains(req.Filter, "isDeleted"):
		return &ldap.SearchResult{}, nil
	case strings.Contains(req.Filter, "objectClass=group"):
		return page(req, a.groups), nil
	}
	return page(req, a.users), nil
}

func (a *adScript) Close() error { return nil }

// page serves entries in pages of the request's paging size; the cookie is
// the decimal offset of the next page.
func page(req *ldap.SearchRequest, all []*ldap.Entry) *ldap.SearchResult {
	ctl, _ := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
	if ctl == nil || ctl.PagingSize == 0 {
		return &ldap.SearchResult{Entries: all}
	}
	off := 0
	fmt.Sscan(string(ctl.Cookie), &off)
	end := min(off+int(ctl.PagingSize), len(all))
	next := ldap.NewControlPaging(ctl.PagingSize)
	if end < len(all) {
		next.SetCookie([]byte(fmt.Sprint(end)))
	}
	return &ldap.SearchResult{Entries: all[off:end], Controls: []ldap.Control{next}}
}

func adEntry(t *testing.T, i int, guid []byte) *ldap.Entry {
	a := adUserAttrs(t)
	a["sAMAccountName"] = []string{fmt.Sprintf("user%d", i)}
	a["objectGUID"] = []string{string(guid)}
	a["objectSid"] = []string{mustSIDBytes(t, fmt.Sprintf("S-1-5-21-1-2-3-%d", 1000+i))}
	return ldap.NewEntry(fmt.Sprintf("CN=user%d,DC=corp,DC=example,DC=test", i), a)
}

func guidN(i int) []byte {
	b := make([]byte, 16)
	b[0], b[15] = byte(i), byte(i>>8)
	return b
}

func scriptSyncer(t *testing.T, dir SearchConn, st store.Store) *Syncer {
	t.Helper()
	s, err := New(Options{
		UserBaseDN: "DC=corp,DC=example,DC=test",
		Flavour:    NewAD(FlavourOptions{Realm: "CORP.EXAMPLE.TEST"}),
		PageSize:   3,
		Dial:       func(context.Context) (SearchConn, error) { return dir, nil },
		Store:      st,
		SpillDir:   t.TempDir(),
		Logger:     quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertNoSpill checks that a pass left no staging file behind.
func assertNoSpill(t *testing.T, s *Syncer) {
	t.Helper()
	left, err := os.ReadDir(s.o.SpillDir)
	if err != nil || len(left) != 0 {
		t.Errorf("staging files left: %v %v", left, err)
	}
}

func TestSyncAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir := &adScript{usn: "100", invocation: guidN(7)}
	for i := range 10 {
		dir.users = append(dir.users, adEntry(t, i, guidN(i+1)))
	}
	st := memory.New()
	s := scriptSyncer(t, dir, st)
	sum, err := s.Sync(ctx, SyncOptions{})
	if err != nil || sum.Added != 10 || sum.HighWater != "100" {
		t.Fatalf("first sync %+v %v", sum, err)
	}
	before := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
	writes := st.Commits()

	cases := []struct {
		name string
		edit func(*adScript)
		is   error
	}{
		{"malformed GUID on the last page", func(d *adScript) {
			d.users = append(d.users, adEntry(t, 98, guidN(98)[:15]))
		}, ErrBadGUID},
		{"malformed SID on the first page", func(d *adScript) {
			bad := adEntry(t, 99, guidN(99))
			bad.Attributes = append(bad.Attributes[:0:0], bad.Attributes...)
			for _, a := range bad.Attributes {
				if a.Name == "objectSid" {
					a.Values, a.ByteValues = []string{"\x01\x02"}, [][]byte{{1, 2}}
				}
			}
			d.users = append([]*ldap.Entry{bad}, d.users...)
		}, ErrBadSID},
		{"connection drops on page 3", func(d *adScript) {
			d.onSearch = func(req *ldap.SearchRequest) error {
				if c, ok := ldap.FindControl(req.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging); ok && string(c.Cookie) == "6" {
					return ldap.NewError(ldap.ErrorNetwork, errors.New("connection reset"))
				}
				return nil
			}
		}, ErrUnreachable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &adScript{usn: "200", invocation: guidN(7), users: slices.Clone(dir.users)}
			c.edit(d)
			fs := scriptSyncer(t, d, st)
			_, err := fs.Sync(ctx, SyncOptions{Full: true})
			if !errors.Is(err, c.is) {
				t.Fatalf("err = %v, want %v", err, c.is)
			}
			assertNoSpill(t, fs)
			after := must[string](t)(mirrorSnapshot(ctx, st, "default", true))
			if after != before || st.Commits() != writes {
				t.Error("failed sync changed the store")
			}
		})
	}

	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		d := &adScript{usn: "200", invocation: guidN(7), users: dir.users}
		d.onSearch = func(req *ldap.SearchRequest) error {
			if strings.Contains(req.Filter, "objectCategory=person") {
				cancel()
			}
			return nil
		}
		_, err := scriptSyncer(t, d, st).Sync(cctx, SyncOptions{Full: true})
		if !errors.Is(err, context.Canceled) || st.Commits() != writes {
			t.Errorf("cancel: %v, %d writes", err, st.Commits()-writes)
		}
	})
}

func TestSyncProgressAndSummary(t *testing.T) {
	ctx := context.Background()
	dir := &adScript{usn: "5", invocation: guidN(1)}
	for i := range 250 {
		dir.users = append(dir.users, adEntry(t, i, guidN(i+1)))
	}
	var phases []string
	var last Progress
	s := scriptSyncer(t, dir, memory.New())
	sum, err := s.Sync(ctx, SyncOptions{Progress: func(p Progress) {
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
		last = p
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(phases, ",") != "users,apply" || last.Done != 250 || last.Total != 250 {
		t.Errorf("progress phases %v last %+v", phases, last)
	}
	line := sum.String()
	for _, want := range []string{"full sync (first sync)", "250 users read", "250 added"} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %q", line, want)
		}
	}
	assertNoSpill(t, s)
	// Same directory again: incremental, USN unchanged, nothing read.
	sum, err = s.Sync(ctx, SyncOptions{})
	if err != nil || sum.Mode != "incremental" || sum.Read != 0 {
		t.Errorf("second sync %+v %v", sum, err)
	}
	assertNoSpill(t, s)
}

func TestNewValidates(t *testing.T) {
	base := Options{UserBaseDN: "dc=x", Flavour: NewRFC2307(FlavourOptions{}), Store: memory.New(),
		Dial: func(context.Context) (SearchConn, error) { return nil, errors.New("no") }}
	for name, edit := range map[string]func(*Options){
		"no flavour": func(o *Options) { o.Flavour = nil },
		"no dial":    func(o *Options) { o.Dial = nil },
		"no store":   func(o *Options) { o.Store = nil },
		"no base":    func(o *Options) { o.UserBaseDN = "" },
	} {
		o := base
		edit(&o)
		if _, err := New(o); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := NewFlavour("novell", FlavourOptions{}); err == nil {
		t.Error("unknown flavour accepted")
	}
}

// TestSyncLogsOneLineWithCountsAsFields: each sync is one structured log line.
func TestSyncLogsOneLineWithCountsAsFields(t *testing.T) {
	dir := &adScript{usn: "5", invocation: guidN(1)}
	for i := range 12 {
		dir.users = append(dir.users, adEntry(t, i, guidN(i+1)))
	}
	log, hook := logtest.NewNullLogger()
	s, err := New(Options{UserBaseDN: "DC=corp,DC=example,DC=test", Flavour: NewAD(FlavourOptions{Realm: "CORP.EXAMPLE.TEST"}),
		Dial: func(context.Context) (SearchConn, error) { return dir, nil }, Store: memory.New(), SpillDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sync(context.Background(), SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	var synced []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Message == "directory synced" {
			synced = append(synced, e)
		}
	}
	if len(synced) != 1 {
		t.Fatalf("%d 'directory synced' lines, want 1: %v", len(synced), hook.AllEntries())
	}
	f := synced[0].Data
	if f["read"] != 12 || f["added"] != 12 || f["mode"] != "full" || f["reason"] != "first sync" {
		t.Errorf("fields %v", f)
	}
}
