package mitkdc

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/passkdc/passkdc/integration/loadgen"
)

// MeasureConfig configures MeasureWith. Zero fields take the defaults shown.
type MeasureConfig struct {
	// Dir is where the KDC's files go; a new temporary directory (removed
	// afterwards) when empty.
	Dir string
	// Users is the number of principals requests cycle through (100).
	Users int
	// Phase is the length of each measured phase (5 s); the warm-up is a
	// fifth of it.
	Phase time.Duration
	// Workers is the closed-loop concurrency at saturation (8).
	Workers int
	// InFlight bounds the open-loop requests in flight at half load (64).
	InFlight int
	// KDC configures the KDC (realm, -w workers, database writes).
	KDC Options
	// Progress, when set, receives one line per phase as it ends.
	Progress io.Writer
}

func (c *MeasureConfig) defaults() {
	if c.Users <= 0 {
		c.Users = 100
	}
	if c.Phase <= 0 {
		c.Phase = 5 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.InFlight <= 0 {
		c.InFlight = 64
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// Phase is one measured phase: the load result and the CPU it cost.
type Phase struct {
	// Result is what the load generator saw.
	Result loadgen.Result
	// KDCCPU and ClientCPU are the CPU time used by krb5kdc (with its
	// workers) and by this process during the phase.
	KDCCPU, ClientCPU time.Duration
}

// KDCCPUPerRequest is the KDC's CPU time per request it answered.
func (p Phase) KDCCPUPerRequest() time.Duration { return perRequest(p.KDCCPU, p.Result) }

// ClientCPUPerRequest is this process's CPU time per request.
func (p Phase) ClientCPUPerRequest() time.Duration { return perRequest(p.ClientCPU, p.Result) }

func perRequest(d time.Duration, r loadgen.Result) time.Duration {
	if n := r.Count + r.Errors; n > 0 {
		return d / time.Duration(n)
	}
	return 0
}

// Report holds the reference figures of issue 8.
type Report struct {
	// Realm, KDCWorkers and NoDBWrites describe the KDC measured.
	Realm      string
	KDCWorkers int
	NoDBWrites bool
	// Users, Workers and CPUs describe the load.
	Users, Workers, CPUs int
	// UDP and TCP are the saturation phases over each transport.
	UDP, TCP Phase
	// Transport is the faster of the two; Saturation is its AS-REQs/s.
	Transport  Transport
	Saturation float64
	// HalfLoad is the open-loop phase at half of Saturation over Transport.
	HalfLoad Phase
	// KDCPeakRSS is the sum of krb5kdc's processes' peak resident sets, bytes.
	KDCPeakRSS int64
	// VerifyFloor is one bare ECDSA P-256 verification in Go, on one core.
	VerifyFloor time.Duration
}

// String prints the report, one figure per line.
func (r *Report) String() string {
	var b strings.Builder
	sat := r.UDP
	if r.Transport == TCP {
		sat = r.TCP
	}
	fmt.Fprintf(&b, "MIT krb5kdc, realm %s, -w %d, db writes on AS-REQ: %v; %d users, %d client workers, %d CPUs\n",
		r.Realm, max(r.KDCWorkers, 1), !r.NoDBWrites, r.Users, r.Workers, r.CPUs)
	fmt.Fprintf(&b, "saturation UDP: %.0f AS-REQ/s (KDC CPU %.1f µs/req, client CPU %.1f µs/req, errors %d)\n",
		r.UDP.Result.Throughput, us(r.UDP.KDCCPUPerRequest()), us(r.UDP.ClientCPUPerRequest()), r.UDP.Result.Errors)
	fmt.Fprintf(&b, "saturation TCP: %.0f AS-REQ/s (KDC CPU %.1f µs/req, client CPU %.1f µs/req, errors %d)\n",
		r.TCP.Result.Throughput, us(r.TCP.KDCCPUPerRequest()), us(r.TCP.ClientCPUPerRequest()), r.TCP.Result.Errors)
	fmt.Fprintf(&b, "figure: %.0f AS-REQ/s at saturation over %s; KDC CPU %.1f µs per AS-REQ\n",
		r.Saturation, r.Transport, us(sat.KDCCPUPerRequest()))
	h := r.HalfLoad.Result
	fmt.Fprintf(&b, "half load %.0f/s over %s: p50 %v p99 %v p99.9 %v max %v (ok %d, errors %d, missed %d)\n",
		h.TargetRate, r.Transport, h.P50, h.P99, h.P999, h.Max, h.Count, h.Errors, h.Missed)
	fmt.Fprintf(&b, "KDC peak RSS %.1f MiB; ECDSA P-256 verify floor %.1f µs (%.0f/s per core)\n",
		float64(r.KDCPeakRSS)/(1<<20), us(r.VerifyFloor), float64(time.Second)/float64(max(r.VerifyFloor, 1)))
	return b.String()
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// Measure starts a KDC in a temporary directory with users principals,
// measures it with phases of the given duration (see MeasureWith) and stops it.
func Measure(ctx context.Context, users int, duration time.Duration) (*Report, error) {
	return MeasureWith(ctx, MeasureConfig{Users: users, Phase: duration})
}

// MeasureWith starts a KDC, creates the users, and runs: a warm-up; a
// closed-loop saturation phase over UDP and one over TCP; an open-loop phase
// at half the faster one's throughput. It measures the KDC's CPU time over
// each phase, then stops the KDC.
func MeasureWith(ctx context.Context, cfg MeasureConfig) (*Report, error) {
	cfg.defaults()
	dir := cfg.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mitkdc-")
		if err != nil {
			return nil, fmt.Errorf("mitkdc: %w", err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	k, err := Start(ctx, dir, cfg.KDC)
	if err != nil {
		return nil, err
	}
	defer k.Stop()
	users, err := BenchUsers(cfg.Users)
	if err != nil {
		return nil, err
	}
	if err := k.AddUsers(ctx, users); err != nil {
		return nil, err
	}
	principals, err := Principals(k.Realm, users)
	if err != nil {
		return nil, err
	}
	return k.Measure(ctx, principals, cfg)
}

// Principals derives the keys of users in realm (string2key, once each).
func Principals(realm string, users []User) ([]Principal, error) {
	out := make([]Principal, len(users))
	for i, u := range users {
		p, err := NewPrincipal(realm, u.Name, u.Password)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// Measure runs the phases of MeasureWith against this running KDC, cycling
// through principals (which must exist in it).
func (k *KDC) Measure(ctx context.Context, principals []Principal, cfg MeasureConfig) (*Report, error) {
	cfg.defaults()
	if len(principals) == 0 {
		return nil, fmt.Errorf("mitkdc: no principals to measure with")
	}
	r := &Report{Realm: k.Realm, KDCWorkers: k.opts.Workers, NoDBWrites: k.opts.NoDBWrites,
		Users: len(principals), Workers: cfg.Workers, CPUs: runtime.NumCPU()}
	n := max(cfg.Workers, cfg.InFlight)
	udp, err := newClients(k.Addr, UDP, n)
	if err != nil {
		return nil, err
	}
	defer closeAll(udp)
	tcp, err := newClients(k.Addr, TCP, n)
	if err != nil {
		return nil, err
	}
	ops := map[Transport]loadgen.Op{UDP: loginOp(udp, principals), TCP: loginOp(tcp, principals)}

	loadgen.Saturate(ctx, cfg.Workers, cfg.Phase/5, ops[UDP]) // warm-up
	steps := []struct {
		name string
		dst  *Phase
		run  func() loadgen.Result
	}{
		{"saturate udp", &r.UDP, func() loadgen.Result { return loadgen.Saturate(ctx, cfg.Workers, cfg.Phase, ops[UDP]) }},
		{"saturate tcp", &r.TCP, func() loadgen.Result { return loadgen.Saturate(ctx, cfg.Workers, cfg.Phase, ops[TCP]) }},
		{"half load", &r.HalfLoad, func() loadgen.Result {
			return loadgen.FixedRate(ctx, r.Saturation/2, cfg.Phase, cfg.InFlight, ops[r.Transport])
		}},
	}
	for _, s := range steps {
		if *s.dst, err = k.phase(s.run); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Progress, "%s: %v; KDC CPU %.1f µs/req\n", s.name, s.dst.Result, us(s.dst.KDCCPUPerRequest()))
		if s.dst == &r.TCP {
			r.Transport, r.Saturation = UDP, r.UDP.Result.Throughput
			if r.TCP.Result.Throughput > r.UDP.Result.Throughput {
				r.Transport, r.Saturation = TCP, r.TCP.Result.Throughput
			}
			if r.Saturation <= 0 {
				return r, fmt.Errorf("mitkdc: no AS-REQ succeeded: %v", r.UDP.Result.ErrorSamples)
			}
		}
	}
	if r.KDCPeakRSS, err = k.PeakRSS(); err != nil {
		return nil, err
	}
	r.VerifyFloor = loadgen.VerifyFloor()
	return r, ctx.Err()
}

// phase runs one load phase and measures the CPU time used meanwhile.
func (k *KDC) phase(run func() loadgen.Result) (Phase, error) {
	kdc0, err := k.CPU()
	if err != nil {
		return Phase{}, err
	}
	self0, err := loadgen.ProcCPU(os.Getpid())
	if err != nil {
		return Phase{}, err
	}
	res := run()
	kdc1, err := k.CPU()
	if err != nil {
		return Phase{}, err
	}
	self1, err := loadgen.ProcCPU(os.Getpid())
	if err != nil {
		return Phase{}, err
	}
	return Phase{Result: res, KDCCPU: kdc1 - kdc0, ClientCPU: self1 - self0}, nil
}

// loginOp returns a load operation: worker w logs in with its own client,
// cycling through the principals from an offset of its own.
func loginOp(clients []*Client, principals []Principal) loadgen.Op {
	next := make([]int, len(clients))
	for w := range next {
		next[w] = w * len(principals) / len(clients)
	}
	return func(ctx context.Context, w int) error {
		p := principals[next[w]%len(principals)]
		next[w]++
		_, err := clients[w].Login(ctx, p)
		return err
	}
}

func newClients(addr string, tr Transport, n int) ([]*Client, error) {
	out := make([]*Client, 0, n)
	for range n {
		c, err := NewClient(addr, tr)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func closeAll(cs []*Client) {
	for _, c := range cs {
		_ = c.Close()
	}
}
