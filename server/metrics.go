package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/passkdc/passkdc/keytabs"
)

// Metrics is the server's Prometheus registry: one per server, no global
// state. GET /metrics serves it.
type Metrics struct {
	reg         *prometheus.Registry
	decisions   *prometheus.CounterVec   // every audited decision, by event, result, reason
	signins     *prometheus.CounterVec   // sign-ins (event "login") by result and reason
	latency     *prometheus.HistogramVec // request latency by route
	limited     *prometheus.CounterVec   // requests refused by a limit, by scope
	syncs       *prometheus.CounterVec   // directory syncs by result
	syncObjects *prometheus.GaugeVec     // counts of the last successful sync
	keyVersions prometheus.Gauge
	currentKVNO prometheus.Gauge
	keyReloads  *prometheus.CounterVec
	kdcProxyReq *prometheus.CounterVec // /KdcProxy requests by outcome
	// copyUsed and copyAgain count the sign-ins decided on a cached
	// credential, and those decided again on the store's.
	copyUsed, copyAgain prometheus.Counter

	mu       sync.Mutex
	lastSync time.Time
	now      func() time.Time
}

func newMetrics(now func() time.Time) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: now}
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_decisions_total",
		Help: "Audited decisions by event, result (ok, refused, error) and reason code."}, []string{"event", "result", "reason"})
	m.signins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_signins_total",
		Help: "Sign-ins (partial TGT requests) by result and reason code."}, []string{"result", "reason"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "passkdc_http_request_duration_seconds",
		Help:    "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"route", "code"})
	m.limited = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_rate_limited_total",
		Help: "Requests refused by a limit, by scope (address, principal, sessions)."}, []string{"scope"})
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_sync_total",
		Help: "Directory syncs by result (ok, error)."}, []string{"result"})
	m.syncObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "passkdc_sync_objects",
		Help: "Counts of the last successful directory sync by kind (read, added, changed, deleted, groups)."}, []string{"kind"})
	m.keyVersions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "passkdc_rodc_key_versions",
		Help: "Number of RODC krbtgt key versions loaded from the keytab."})
	m.currentKVNO = prometheus.NewGauge(prometheus.GaugeOpts{Name: "passkdc_rodc_current_kvno",
		Help: "Full kvno (RODC number << 16 | version) of the key new tickets are encrypted with."})
	m.keyReloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_keytab_reloads_total",
		Help: "Keytab reloads by result (ok, error)."}, []string{"result"})
	m.kdcProxyReq = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_kdc_proxy_requests_total",
		Help: "KDC proxy (/KdcProxy) requests by outcome: forwarded, or the refusal (content_type, too_large, not_der, outer_tag, framing, message_type, realm, rate_limited, kdc_unreachable, bad_reply, client_timeout)."}, []string{"outcome"})
	copies := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "passkdc_signin_credential_copies_total",
		Help: "Sign-ins decided on the copy of the credential an earlier sign-in left (outcome used), and those decided again on the store's credential because the copy no longer matched the store or would have refused (outcome decided_again)."}, []string{"outcome"})
	m.copyUsed, m.copyAgain = copies.WithLabelValues("used"), copies.WithLabelValues("decided_again")
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "passkdc_sync_age_seconds",
		Help: "Seconds since the last successful directory sync (-1: none since start)."}, m.syncAge)
	m.reg.MustRegister(m.decisions, m.signins, m.latency, m.limited, m.syncs, m.syncObjects,
		m.keyVersions, m.currentKVNO, m.keyReloads, m.kdcProxyReq, copies, age,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the underlying registry (tests, extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) syncAge() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lastSync.IsZero() {
		return -1
	}
	return m.now().Sub(m.lastSync).Seconds()
}

// SyncCounts are the figures of one directory sync.
type SyncCounts struct {
	Read, Added, Changed, Deleted, Groups int
}

// SyncDone records a directory sync that ended at `at`; err nil is a success.
func (m *Metrics) SyncDone(at time.Time, c SyncCounts, err error) {
	if err != nil {
		m.syncs.WithLabelValues("error").Inc()
		return
	}
	m.syncs.WithLabelValues("ok").Inc()
	for k, v := range map[string]int{"read": c.Read, "added": c.Added, "changed": c.Changed, "deleted": c.Deleted, "groups": c.Groups} {
		m.syncObjects.WithLabelValues(k).Set(float64(v))
	}
	m.SetLastSync(at)
}

// SetLastSync sets the time of the last successful sync (e.g. from the store at start).
func (m *Metrics) SetLastSync(at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if at.After(m.lastSync) {
		m.lastSync = at
	}
}

// KeysLoaded records the key set the issuer now uses.
func (m *Metrics) KeysLoaded(ks *keytabs.KeySet) {
	m.keyVersions.Set(float64(len(ks.Versions())))
	m.currentKVNO.Set(float64(ks.CurrentKVNO()))
}

// KeyReload counts a keytab reload attempt.
func (m *Metrics) KeyReload(err error) {
	if err != nil {
		m.keyReloads.WithLabelValues("error").Inc()
		return
	}
	m.keyReloads.WithLabelValues("ok").Inc()
}

func (m *Metrics) decision(event, result, reason string) {
	m.decisions.WithLabelValues(event, result, reason).Inc()
	if event == "login" {
		m.signins.WithLabelValues(result, reason).Inc()
	}
}

func (m *Metrics) observe(route string, code int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.latency.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

func (m *Metrics) limitedBy(scope string) { m.limited.WithLabelValues(scope).Inc() }

func (m *Metrics) kdcProxy(outcome string) { m.kdcProxyReq.WithLabelValues(outcome).Inc() }
