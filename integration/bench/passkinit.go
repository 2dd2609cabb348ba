package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
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
	root, err := moduleRoot()
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

// moduleRoot is the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run the bench from the passkdc repository (no go.mod found)")
		}
		dir = parent
	}
}

// passkinitRun is one way of running passkinit: the program, its arguments
// before -c, and its environment (nil: this process's).
type passkinitRun struct {
	mode string
	exe  string
	args []string
	env  []string
}

// timePasskinit runs passkinit n times one after the other, each with a new
// cache file in dir, and times each from start to exit. Every run must exit
// 0 and leave a non-empty cache; the first failure ends the measurement.
func timePasskinit(ctx context.Context, r passkinitRun, dir string, n int, progress io.Writer) (*PasskinitResult, error) {
	res := &PasskinitResult{Mode: r.mode}
	for i := range n {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		cc := filepath.Join(dir, fmt.Sprintf("cc-%d", i))
		cmd := exec.CommandContext(ctx, r.exe, append(slices.Clone(r.args), "--timeout", "30s", "-c", cc)...)
		cmd.Env = r.env
		var out limitedBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return res, fmt.Errorf("passkinit %s, run %d: %w: %s", r.mode, i+1, err, out.b)
		}
		if fi, err := os.Stat(cc); err != nil || fi.Size() == 0 {
			return res, fmt.Errorf("passkinit %s, run %d: no credential cache written (%v): %s", r.mode, i+1, err, out.b)
		}
		res.Times = append(res.Times, d)
	}
	slices.Sort(res.Times)
	fmt.Fprintf(progress, "bench: passkinit %s: %d runs, p50 %.1f ms, p95 %.1f ms\n", r.mode, len(res.Times),
		ms(res.Quantile(0.5)), ms(res.Quantile(0.95)))
	return res, nil
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
