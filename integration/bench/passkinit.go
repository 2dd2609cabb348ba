package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/passkdc/passkdc/integration/deploy"
)

// PasskinitResult is the wall time of passkinit runs, each from process
// start to exit with the credential cache written: what a user waits for.
type PasskinitResult struct {
	Mode  string          // what was measured, e.g. "--no-exchange (partial TGT)"
	Times []time.Duration // one per run, sorted
}

// Quantile is the q-quantile of the run times (nearest rank).
func (p *PasskinitResult) Quantile(q float64) time.Duration {
	if p == nil || len(p.Times) == 0 {
		return 0
	}
	i := int(q*float64(len(p.Times))+0.999999) - 1
	return p.Times[min(max(i, 0), len(p.Times)-1)]
}

// buildPasskinit compiles cmd/passkinit of the module around the working
// directory into dir.
func buildPasskinit(ctx context.Context, dir string) (string, error) {
	root, err := deploy.ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "passkinit")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/passkinit")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/passkinit: %w\n%s", err, msg)
	}
	return out, nil
}

// passkinitRun is one way of running passkinit: the program, its arguments
// before -c, its environment (nil: this process's) and how its output must
// begin ("partial TGT for ", "TGT for ").
type passkinitRun struct {
	mode string
	exe  string
	args []string
	env  []string
	want string
}

// timePasskinit runs passkinit n times per way of rs, one run after another
// and the ways taken in turn (so that a change in the machine's load falls
// on all alike), each with a new cache file in dir, and times each from
// start to exit. Every run must exit 0, say what it wrote and leave a
// non-empty cache; the first failure ends the measurement.
func timePasskinit(ctx context.Context, rs []passkinitRun, dir string, n int, progress io.Writer) ([]*PasskinitResult, error) {
	res := make([]*PasskinitResult, len(rs))
	for j, r := range rs {
		res[j] = &PasskinitResult{Mode: r.mode}
	}
	for i := range n {
		for j, r := range rs {
			d, err := runPasskinit(ctx, r, filepath.Join(dir, fmt.Sprintf("cc-%d-%d", j, i)))
			if err != nil {
				return nil, fmt.Errorf("passkinit %s, run %d: %w", r.mode, i+1, err)
			}
			res[j].Times = append(res[j].Times, d)
		}
	}
	for _, p := range res {
		slices.Sort(p.Times)
		fmt.Fprintf(progress, "bench: passkinit %s: %d runs, p50 %.1f ms, p95 %.1f ms\n", p.Mode, len(p.Times),
			ms(p.Quantile(0.5)), ms(p.Quantile(0.95)))
	}
	return res, nil
}

// runPasskinit runs passkinit once, writing the cache cc, and returns its
// wall time from start to exit.
func runPasskinit(ctx context.Context, r passkinitRun, cc string) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, r.exe, append(slices.Clone(r.args), "--timeout", "30s", "-c", cc)...)
	cmd.Env = r.env
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", err, out.b)
	}
	if !strings.HasPrefix(string(out.b), r.want) {
		return 0, fmt.Errorf("said %q, want %q...", out.b, r.want)
	}
	if fi, err := os.Stat(cc); err != nil || fi.Size() == 0 {
		return 0, fmt.Errorf("no credential cache written (%v): %s", err, out.b)
	}
	return d, nil
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
