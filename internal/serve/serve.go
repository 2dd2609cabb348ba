// Package serve assembles a running passkdc from its configuration: store,
// RODC key set, the RODC's replication policy read from the directory, the
// directory syncer, the WebAuthn relying party, the issuer and the HTTP server.
// cmd/passkdc serve only adds flags, the listener and signals.
//
// Standalone mode (standalone.enabled): no directory. Principals and groups
// are put into the store by an administrator or a test, the replication
// policy comes from standalone.allow/deny, and no sync or live check runs.
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	gokeytab "github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/assertion"
	"github.com/passkdc/passkdc/internal/check"
	"github.com/passkdc/passkdc/internal/config"
	"github.com/passkdc/passkdc/internal/dirconfig"
	"github.com/passkdc/passkdc/internal/gotune"
	"github.com/passkdc/passkdc/internal/storeopen"
	"github.com/passkdc/passkdc/kdc/issuer"
	"github.com/passkdc/passkdc/kdc/kkdcp"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/ldapsync"
	"github.com/passkdc/passkdc/rodc"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/view"
)

// Options for New.
type Options struct {
	Config   *config.Config
	RODCName string // computer name of the RODC object (default PASSKDC)
	Log      *logrus.Logger
	Now      func() time.Time
}

// App is an assembled passkdc.
type App struct {
	cfg    *config.Config
	log    *logrus.Logger
	store  store.Store
	syncer *ldapsync.Syncer // nil in standalone mode
	rodc   *rodc.RODC       // the RODC as read at start (name, number)
	policy *livePolicy      // its replication policy, re-read by RefreshPolicy
	rp     *assertion.RelyingParty
	iss    *issuer.Issuer
	srv    *server.Server
	now    func() time.Time

	reloadMu sync.Mutex // one keytab reload at a time
}

// New assembles passkdc. It fails, with a message that says what to fix, when
// the keytab, the store or the directory is not usable: without the RODC's
// policy passkdc cannot decide who may have a ticket, so it does not start.
func New(ctx context.Context, o Options) (*App, error) {
	cfg := o.Config
	if o.RODCName == "" {
		o.RODCName = "PASSKDC"
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	tuneRuntime(cfg.Runtime, o.Log)
	rep, err := preflight(ctx, o)
	if err != nil {
		return nil, err
	}
	keys, err := loadRODCKeys(cfg.Keytab, cfg.Realm)
	if err != nil {
		return nil, err
	}
	st, err := storeopen.Open(ctx, cfg.Store, o.Log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: o.Log, store: st, now: nowOr(o.Now)}
	if err := a.assemble(ctx, o, keys); err != nil {
		st.Close()
		return nil, err
	}
	a.logStart(o.RODCName, keys, rep)
	return a, nil
}

// tuneRuntime applies runtime.gc_percent and runtime.memory_limit (GOGC and
// GOMEMLIMIT in the environment win) and logs the one line saying what is
// in effect and where each setting came from.
func tuneRuntime(r config.Runtime, log *logrus.Logger) {
	a := gotune.Apply(r.Options(), os.Getenv)
	log.WithFields(logrus.Fields{
		"gc_percent": a.GCPercent, "gc_source": string(a.GCSource),
		"memory_limit": a.MemoryLimitText(), "memory_limit_source": string(a.MemoryLimitSource),
	}).Info("go runtime: garbage collector settings")
}

// preflight runs the checks of `passkdc check` (internal/check, the one
// implementation): a fatal problem stops the start with every fatal problem
// and its fix; every other problem is logged as a warning with its fix.
func preflight(ctx context.Context, o Options) (check.Report, error) {
	rep := check.Run(ctx, check.Options{Config: o.Config, RODCName: o.RODCName, Now: o.Now, Log: o.Log})
	if err := rep.Err(); err != nil {
		return rep, err
	}
	for _, w := range rep.Warnings() {
		o.Log.WithFields(logrus.Fields{"check": w.Name, "problem": w.Problem, "fix": w.Fix}).Warn("pre-flight check: " + w.Problem)
	}
	return rep, nil
}

// logStart is the one line an operator reads to see what serve runs with.
func (a *App) logStart(rodcName string, keys *keytabs.KeySet, rep check.Report) {
	_, version := keytabs.SplitKVNO(keys.CurrentKVNO())
	directory := "standalone"
	if a.syncer != nil {
		directory = a.cfg.LDAP.URL
	}
	a.log.WithFields(logrus.Fields{
		"rodc": rodcName, "rodc_number": a.rodc.Number, "kvno": keys.CurrentKVNO(), "key_version": version,
		"reveal_groups": len(a.rodc.Allow), "never_reveal_groups": len(a.rodc.Deny),
		"rp_id": a.cfg.RPID, "origins": strings.Join(a.cfg.Origins, ","), "store": storeKind(a.cfg.Store),
		"directory": directory, "profiles": len(a.cfg.Profiles),
		"checks": len(rep.Results), "check_warnings": len(rep.Warnings()),
	}).Info("passkdc ready")
}

// storeKind names the store without any credential a URL may carry.
func storeKind(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "postgresql"
	}
	return "sqlite " + dsn
}

func (a *App) assemble(ctx context.Context, o Options, keys *keytabs.KeySet) error {
	cfg := a.cfg
	var err error
	var refresher server.Refresher
	// One view of the store's principals and groups for the relying party,
	// the issuer and the syncer's mirror reads: valid by the store's change
	// marker, so never staler than the store, on this replica or another.
	dv := view.New(a.store, 0)
	if cfg.Standalone.Enabled {
		a.rodc = standalonePolicy(cfg, keys)
		o.Log.WithField("rodc_number", a.rodc.Number).Warn("standalone mode: no directory; principals come from the store, the replication policy from standalone.allow/deny")
	} else {
		if a.rodc, err = readPolicy(ctx, cfg, o.RODCName, o.Log); err != nil {
			return err
		}
		if a.syncer, err = dirconfig.NewSyncer(cfg, a.store, dv, o.Log); err != nil {
			return err
		}
		refresher = liveCheck{a.syncer}
	}
	profiles, def, err := cfg.PasskeyProfiles()
	if err != nil {
		return err
	}
	md, err := a.loadMetadata()
	if err != nil {
		return err
	}
	opts := []assertion.Option{assertion.WithClock(a.now), assertion.WithProfiles(profiles, def), assertion.WithView(dv)}
	if md != nil {
		opts = append(opts, assertion.WithMetadata(md))
	}
	if a.syncer != nil && cfg.Sync.LiveCheck {
		opts = append(opts, assertion.WithDirectory(liveCheck{a.syncer}))
	}
	if a.rp, err = assertion.New(assertion.Config{RPID: cfg.RPID, Origins: cfg.Origins}, a.store, opts...); err != nil {
		return err
	}
	rp := a.rp
	a.policy = newLivePolicy(a.rodc)
	if a.iss, err = issuer.New(issuer.Config{Realm: cfg.Realm}, keys, a.policy, issuer.StoreGroups{Store: a.store, View: dv}, o.Now); err != nil {
		return err
	}
	krb, _, err := kerberosConfig(cfg)
	if err != nil {
		return err
	}
	a.srv, err = server.New(server.Config{Realm: cfg.Realm, Store: a.store, RP: rp, Issuer: a.iss,
		Refresher: refresher, Log: o.Log, Now: o.Now, Limits: cfg.Limits, MetricsElsewhere: cfg.MetricsListen != "",
		Readiness: a.readiness(), KDCProxy: kdcProxyConfig(cfg), Kerberos: krb,
		Helpdesk: server.HelpdeskConfig{Groups: cfg.Helpdesk.Groups, MayActOnHelpdesk: cfg.Helpdesk.MayActOnHelpdesk}})
	if err != nil {
		return err
	}
	a.srv.Metrics().KeysLoaded(keys)
	if a.syncer != nil {
		a.srv.Metrics().Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "passkdc_live_check_mirror_fallbacks_total",
			Help: "Live checks answered from the synced mirror because the directory could not be reached.",
		}, func() float64 { return float64(a.syncer.MirrorFallbacks()) }))
	}
	if st, err := a.store.GetSyncState(ctx, cfg.LDAP.Directory); err == nil && !st.LastSync.IsZero() {
		a.srv.Metrics().SetLastSync(st.LastSync)
	}
	return nil
}

// kerberosConfig loads the HTTP service keytab of the kerberos section (nil
// when not configured): private (0600) and holding an AES key of the SPN.
// It also returns the SPN's newest key version, for the log.
func kerberosConfig(cfg *config.Config) (*server.KerberosConfig, uint32, error) {
	k := cfg.Kerberos
	if k.Keytab == "" {
		return nil, 0, nil
	}
	kt, err := keytabs.Load(k.Keytab)
	if err != nil {
		return nil, 0, fmt.Errorf("kerberos.keytab: %w", err)
	}
	p, err := keytabs.ParsePrincipal(k.SPN + "@" + cfg.Realm)
	if err != nil {
		return nil, 0, fmt.Errorf("kerberos.spn: %w", err)
	}
	ks, err := kt.KeySet(p)
	if err != nil {
		return nil, 0, fmt.Errorf("kerberos.keytab %s holds no key of %s (run passkdc rodc http-spn): %w", k.Keytab, p, err)
	}
	if _, err := ks.CurrentAES(); err != nil {
		return nil, 0, fmt.Errorf("kerberos.keytab %s holds no AES key of %s (run passkdc rodc http-spn)", k.Keytab, p)
	}
	own := &keytabs.Keytab{}
	for _, e := range kt.Entries {
		if e.Principal.Equal(p) {
			own.Entries = append(own.Entries, e)
		}
	}
	b, err := own.Marshal()
	if err != nil {
		return nil, 0, fmt.Errorf("kerberos.keytab %s: %w", k.Keytab, err)
	}
	gkt := new(gokeytab.Keytab)
	if err := gkt.Unmarshal(b); err != nil {
		return nil, 0, fmt.Errorf("kerberos.keytab %s: %w", k.Keytab, err)
	}
	return &server.KerberosConfig{Keytab: gkt, SPN: k.SPN}, ks.CurrentKVNO(), nil
}

// kdcProxyConfig turns the kdc_proxy section into the server's proxy (nil
// when disabled and nothing is advertised): the configured realm is the
// only one served.
func kdcProxyConfig(cfg *config.Config) *server.KDCProxyConfig {
	p := cfg.KDCProxy
	advertise := cfg.AdvertisedKDCProxy()
	if !p.Enabled {
		if advertise == "" {
			return nil
		}
		return &server.KDCProxyConfig{AdvertiseURL: advertise}
	}
	fw := &kkdcp.Forwarder{KDCs: map[string][]string{strings.ToUpper(cfg.Realm): p.KDCs}, Timeout: p.Timeout}
	resolver := net.DefaultResolver
	if addr := p.DNSResolverAddr(); addr != "" {
		resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
		fw.Dial = (&net.Dialer{Resolver: resolver}).DialContext
	}
	if p.DNSSRV {
		fw.SRV = &kkdcp.SRV{Resolver: resolver, TTL: p.DNSCache}
	}
	return &server.KDCProxyConfig{
		Forwarder: fw, AdvertiseURL: advertise,
		MaxBytes: p.MaxBytes, PerAddressPerMinute: p.PerAddressPerMinute, PerAddressBurst: p.PerAddressBurst,
	}
}

// standalonePolicy is the replication policy of standalone mode: the RODC
// number is the keytab's, the groups are standalone.allow and .deny plus the
// builtin privileged groups.
func standalonePolicy(cfg *config.Config, keys *keytabs.KeySet) *rodc.RODC {
	r := standaloneRules(cfg)
	r.Number, r.KrbtgtName = keys.RODCNumber(), keys.Principal().Components[0]
	return r
}

// standaloneRules is the replication policy of standalone.allow/deny.
func standaloneRules(cfg *config.Config) *rodc.RODC {
	deny := append(append([]string(nil), cfg.Standalone.Deny...), rodc.BuiltinNeverReveal()...)
	return &rodc.RODC{Name: "standalone", Allow: append([]string(nil), cfg.Standalone.Allow...), Deny: deny}
}

// ReplicationPolicy is the policy serve applies, for the admin commands:
// standalone.allow/deny in standalone mode, else the RODC object's
// (rodc_name), read from the directory.
func ReplicationPolicy(ctx context.Context, cfg *config.Config, log logrus.FieldLogger) (*rodc.RODC, error) {
	if cfg.Standalone.Enabled {
		return standaloneRules(cfg), nil
	}
	return readPolicy(ctx, cfg, cfg.RODCName, log)
}

// readiness is what /readyz checks besides the store: the keytab on disk
// still holds this RODC's keys, and the directory (unless standalone) answers.
func (a *App) readiness() []server.ReadyCheck {
	checks := []server.ReadyCheck{{Name: "keytab", Check: func(context.Context) error {
		_, err := a.readRODCKeys()
		return err
	}}}
	if a.syncer != nil {
		checks = append(checks, server.ReadyCheck{Name: "directory", Check: a.syncer.Ping})
	}
	return checks
}

// WatchKeytab reloads the keys whenever the keytab file changes (a new
// inode, size or modification time: `passkdc keytab import` replaces it
// atomically), checking every interval until ctx ends. SIGHUP still works.
// The HTTP service keytab (kerberos.keytab, rotated by `passkdc rodc
// http-spn`) is watched the same way.
func (a *App) WatchKeytab(ctx context.Context, interval time.Duration) {
	last, _ := fileStamp(a.cfg.Keytab)
	lastHTTP, _ := fileStamp(a.cfg.Kerberos.Keytab)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if a.cfg.Kerberos.Keytab != "" {
			if now, err := fileStamp(a.cfg.Kerberos.Keytab); err == nil && now != lastHTTP {
				lastHTTP = now
				_ = a.ReloadKerberos() // logged by ReloadKerberos
			}
		}
		now, err := fileStamp(a.cfg.Keytab)
		if err != nil || now == last {
			continue // a missing file keeps the loaded keys; /readyz reports it
		}
		last = now
		a.log.WithField("keytab", a.cfg.Keytab).Info("keytab file changed; reloading")
		_, _ = a.ReloadKeys() // logged and counted by ReloadKeys
	}
}

// ReloadKerberos re-reads kerberos.keytab and hands it to the server; the
// keys loaded before stay when the file is unusable. Nothing without a
// kerberos section.
func (a *App) ReloadKerberos() error {
	if a.cfg.Kerberos.Keytab == "" {
		return nil
	}
	log := a.log.WithField("keytab", a.cfg.Kerberos.Keytab)
	kc, kvno, err := kerberosConfig(a.cfg)
	if err != nil {
		log.WithError(err).Error("HTTP service keytab reload failed; keeping the keys loaded before")
		return err
	}
	a.srv.SetKerberosKeytab(kc.Keytab)
	log.WithFields(logrus.Fields{"kvno": kvno, "result": "ok"}).Info("HTTP service keytab reloaded")
	return nil
}

// stamp identifies one version of a file.
type stamp struct {
	ino, size int64
	mtime     time.Time
}

func fileStamp(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	st := stamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st, nil
}

// ReloadKeys re-reads the keytab and hands the new key set to the issuer:
// a rotated key is used by the next sign-in, requests in flight finish with
// the key they started with. The old set stays in place when the file is
// unreadable or holds another RODC's keys. It returns the current kvno.
func (a *App) ReloadKeys() (uint32, error) {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	kvno, err := a.reloadKeys()
	a.srv.Metrics().KeyReload(err)
	log := a.log.WithField("keytab", a.cfg.Keytab)
	if err != nil {
		log.WithError(err).Error("keytab reload failed; keeping the keys loaded before")
		return 0, err
	}
	log.WithField("kvno", kvno).Info("keytab reloaded")
	return kvno, nil
}

func (a *App) reloadKeys() (uint32, error) {
	keys, err := a.readRODCKeys()
	if err != nil {
		return 0, err
	}
	if err := a.iss.SetKeys(keys); err != nil {
		return 0, err
	}
	a.srv.Metrics().KeysLoaded(keys)
	return keys.CurrentKVNO(), nil
}

// readRODCKeys reads the keytab as it is on disk now and checks that it
// still holds this RODC's keys.
func (a *App) readRODCKeys() (*keytabs.KeySet, error) {
	keys, err := loadRODCKeys(a.cfg.Keytab, a.cfg.Realm)
	if err != nil {
		return nil, err
	}
	if keys.RODCNumber() != a.rodc.Number {
		return nil, fmt.Errorf("keytab %s now holds keys of RODC number %d, not %d", a.cfg.Keytab, keys.RODCNumber(), a.rodc.Number)
	}
	return keys, nil
}

// loadRODCKeys finds the krbtgt_N key set in the keytab.
func loadRODCKeys(path, realm string) (*keytabs.KeySet, error) {
	kt, err := keytabs.Load(path)
	if err != nil {
		return nil, fmt.Errorf("RODC keytab: %w", err)
	}
	for _, e := range kt.Entries {
		n, _ := keytabs.SplitKVNO(e.KVNO)
		comps := e.Principal.Components
		if n != 0 && len(comps) == 1 && strings.HasPrefix(strings.ToLower(comps[0]), "krbtgt_") && strings.EqualFold(e.Principal.Realm, realm) {
			return kt.KeySet(e.Principal)
		}
	}
	return nil, fmt.Errorf("RODC keytab %s holds no krbtgt_N key of realm %s: run passkdc rodc provision, export the key and passkdc keytab import it", path, realm)
}

// readPolicy reads the RODC object and its replication policy.
func readPolicy(ctx context.Context, cfg *config.Config, name string, log logrus.FieldLogger) (*rodc.RODC, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.LDAP.Timeout+5*time.Second)
	defer cancel()
	conn, err := ldapsync.Dial(ctx, dirconfig.DialConfig(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("read the RODC policy: %w", err)
	}
	defer conn.Close()
	r, err := rodc.Show(ctx, conn, name, cfg.LDAP.BaseDN)
	if err != nil {
		return nil, fmt.Errorf("read RODC %s: %w", name, err)
	}
	return r, nil
}

// Handler is the HTTP handler.
func (a *App) Handler() http.Handler { return a.srv.Handler() }

// Store is the app's store (for tests and admin commands in-process).
func (a *App) Store() store.Store { return a.store }

// TLSFiles returns the configured certificate, or a self-signed one kept in
// dir/tls, created on first use.
func (a *App) TLSFiles(dir string) (cert, key string, created bool, err error) {
	if a.cfg.TLS.Cert != "" || a.cfg.TLS.Key != "" {
		if a.cfg.TLS.Cert == "" || a.cfg.TLS.Key == "" {
			return "", "", false, errors.New("tls.cert and tls.key go together")
		}
		return a.cfg.TLS.Cert, a.cfg.TLS.Key, false, nil
	}
	hosts := []string{a.cfg.RPID, "localhost", "127.0.0.1", "::1"}
	if _, h, ok := strings.Cut(a.cfg.Kerberos.SPN, "/"); ok {
		hosts = append(hosts, h) // the name browsers Negotiate with
	}
	if h, _, err := net.SplitHostPort(a.cfg.Listen); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	s, err := server.EnsureSelfSigned(filepath.Join(dir, "tls"), hosts, time.Now())
	return s.CertFile, s.KeyFile, s.Created, err
}

// RunSync mirrors the directory now and then every sync.interval until ctx
// ends (never in standalone mode).
func (a *App) RunSync(ctx context.Context) {
	if a.cfg.Sync.Interval <= 0 || a.syncer == nil {
		return
	}
	t := time.NewTicker(a.cfg.Sync.Interval)
	defer t.Stop()
	for {
		_ = a.RefreshPolicy(ctx) // logged by RefreshPolicy
		sum, err := a.syncer.Sync(ctx, ldapsync.SyncOptions{})
		if ctx.Err() == nil {
			a.srv.Metrics().SyncDone(a.now(), server.SyncCounts{Read: sum.Read, Added: sum.Added,
				Changed: sum.Changed, Deleted: sum.Deleted, Groups: sum.Groups}, err)
		}
		// A successful sync is logged once, by the syncer, with its counts as fields.
		if err != nil && ctx.Err() == nil {
			a.log.WithError(err).Warn("directory sync failed; serving from the mirror within max_staleness")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunPrune deletes expired ceremony sessions every interval until ctx ends,
// so that abandoned ceremonies do not pile up in the store.
func (a *App) RunPrune(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := a.store.DeleteExpiredSessions(ctx, a.now())
		if err != nil && ctx.Err() == nil {
			a.log.WithError(err).Warn("pruning expired sessions failed")
		} else if n > 0 {
			a.log.WithField("sessions", n).Debug("expired sessions pruned")
		}
	}
}

// HTTPServer returns the HTTP server for the app's handler with the
// configured timeouts.
func (a *App) HTTPServer() *http.Server {
	return server.NewHTTPServer(a.cfg.Listen, a.Handler(), a.cfg.Limits)
}

// MetricsServer returns the HTTP server for metrics_listen, or nil when
// /metrics is served on the API listener.
func (a *App) MetricsServer() *http.Server {
	if a.cfg.MetricsListen == "" {
		return nil
	}
	return server.NewHTTPServer(a.cfg.MetricsListen, a.srv.MetricsHandler(), a.cfg.Limits)
}

// Close releases the store.
func (a *App) Close() error { return a.store.Close() }

// liveCheck adapts the syncer's live lookup to the server's Refresher.
type liveCheck struct{ s *ldapsync.Syncer }

func (l liveCheck) Refresh(ctx context.Context, p store.Principal) (store.Principal, []string, error) {
	fresh, groups, err := l.LiveGroups(ctx, p)
	return fresh, issuer.GroupSIDs(groups), err
}

// LiveGroups is the assertion.Directory the relying party resolves profiles
// with, so profiles and the replication policy see the same groups.
func (l liveCheck) LiveGroups(ctx context.Context, p store.Principal) (store.Principal, []store.Group, error) {
	fresh, groups, err := l.s.LiveLookup(ctx, p.Anchor)
	if err != nil {
		return p, nil, err
	}
	return fresh, groups, nil
}

func nowOr(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
