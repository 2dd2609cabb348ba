// Package check is passkdc's pre-flight check of a deployment: every problem
// that would otherwise be found by the first user to sign in (a keytab behind
// the DC, an untrusted directory certificate, a certificate that does not
// cover rp_id, an origin on another port, clock skew...), each reported with
// the fix. `passkdc check` prints the results and `passkdc serve` runs the
// same checks at start. It reads and probes; it never writes to the
// directory, the DC or the keytab.
package check

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/passkdc/passkdc/internal/config"
)

// Result is one check's outcome. Problem and Fix are set when OK is false.
type Result struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
	// Fatal: serve cannot run with this problem (it refuses to start).
	Fatal bool `json:"fatal,omitempty"`
}

// Options are what the checks need besides the configuration.
type Options struct {
	Config *config.Config
	// RODCName is the computer name of passkdc's RODC object.
	RODCName string
	// KDC is the DC's Kerberos address (host:port); default the first of
	// kdc_proxy.kdcs when the proxy is enabled, else the host of ldap.url on
	// port 88.
	KDC string
	// MaxSkew is the clock difference to the DC tolerated (default 5 min,
	// Kerberos' own default).
	MaxSkew time.Duration
	Now     func() time.Time
	Log     logrus.FieldLogger
}

// Report is the outcome of every check, in order.
type Report struct {
	Results []Result `json:"results"`
}

// OK reports whether every check passed.
func (r Report) OK() bool {
	for _, c := range r.Results {
		if !c.OK {
			return false
		}
	}
	return true
}

// Fatal returns the results that stop serve from starting.
func (r Report) Fatal() []Result {
	var out []Result
	for _, c := range r.Results {
		if !c.OK && c.Fatal {
			out = append(out, c)
		}
	}
	return out
}

// Run runs every check. It never fails as a whole: each problem is a result.
func Run(ctx context.Context, o Options) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = 5 * time.Minute
	}
	if o.Log == nil {
		o.Log = logrus.StandardLogger()
	}
	r := &run{o: o, cfg: o.Config}
	r.tls()
	r.origins()
	r.store(ctx)
	r.keytab()
	r.kerberos()
	r.metadata()
	if r.cfg.Standalone.Enabled && r.cfg.LDAP.URL == "" {
		r.ok("directory", "standalone mode: no directory configured")
	} else {
		r.directory(ctx)
		r.kdc(ctx)
	}
	return Report{Results: r.results}
}

// run accumulates results and what earlier checks learnt for later ones.
type run struct {
	o       Options
	cfg     *config.Config
	results []Result

	keytabNumber  uint16 // RODC number of the keytab's krbtgt_N keys (0: none)
	keytabVersion uint16 // newest key version in the keytab
	httpKVNO      uint32 // newest kvno of kerberos.spn in kerberos.keytab (0: none, or not configured)
}

func (r *run) ok(name, detail string, args ...any) {
	r.results = append(r.results, Result{Name: name, OK: true, Detail: fmt.Sprintf(detail, args...)})
}

func (r *run) fail(name string, fatal bool, problem, fix string) {
	r.results = append(r.results, Result{Name: name, Problem: problem, Fix: fix, Fatal: fatal})
}

// String renders a report for people: one line a check, the fix indented.
func (r Report) String() string {
	var b strings.Builder
	for _, c := range r.Results {
		if c.OK {
			fmt.Fprintf(&b, "ok    %-10s %s\n", c.Name, c.Detail)
			continue
		}
		fmt.Fprintf(&b, "FAIL  %-10s %s\n", c.Name, c.Problem)
		if c.Fix != "" {
			fmt.Fprintf(&b, "      %-10s fix: %s\n", "", c.Fix)
		}
	}
	return b.String()
}

// FatalError is the error of a start that a fatal problem stops: it lists
// every fatal problem with its fix.
type FatalError struct{ Results []Result }

func (e *FatalError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d pre-flight check(s) failed (passkdc check --config FILE lists every problem):", len(e.Results))
	for _, c := range e.Results {
		fmt.Fprintf(&b, "\n  %s: %s\n    fix: %s", c.Name, c.Problem, c.Fix)
	}
	return b.String()
}

// Err is a *FatalError when a check failed fatally, else nil.
func (r Report) Err() error {
	if f := r.Fatal(); len(f) > 0 {
		return &FatalError{Results: f}
	}
	return nil
}

// Warnings returns the failed checks that do not stop serve.
func (r Report) Warnings() []Result {
	var out []Result
	for _, c := range r.Results {
		if !c.OK && !c.Fatal {
			out = append(out, c)
		}
	}
	return out
}
