package integration

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/passkdc/passkdc/integration/deploy"
	"github.com/passkdc/passkdc/integration/samba"
)

// One domain for the whole package (provisioning takes ~10 s), on 127.0.0.12
// unless PASSKDC_TEST_DC_IP names another loopback address (two checkouts
// testing on one machine at once).
var shared = samba.NewShared(samba.Options{IP: dcIP(), CacheDir: samba.CacheDirFromEnv()})

func dcIP() string {
	if ip := os.Getenv("PASSKDC_TEST_DC_IP"); ip != "" {
		return ip
	}
	return "127.0.0.12"
}

// bin holds the binaries built from this checkout.
var bin struct {
	once sync.Once
	b    deploy.Binaries
	err  error
}

func TestMain(m *testing.M) {
	code := shared.Run(m)
	if fix.f != nil {
		fix.f.stop()
	}
	if bin.b.Dir != "" {
		os.RemoveAll(bin.b.Dir)
	}
	os.Exit(code)
}

// binaries builds cmd/passkdc and cmd/passkinit once per test run.
func binaries(t testing.TB) deploy.Binaries {
	t.Helper()
	bin.once.Do(func() {
		dir, err := os.MkdirTemp("", "passkdc-bin-")
		if err != nil {
			bin.err = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		bin.b, bin.err = deploy.Build(context.Background(), filepath.Dir(filepath.Dir(file)), dir)
		if bin.err != nil {
			os.RemoveAll(dir)
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.b
}
