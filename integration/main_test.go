package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/passkdc/passkdc/integration/samba"
)

// One domain for the whole package (provisioning takes ~10 s).
var shared = samba.NewShared(samba.Options{IP: "127.0.0.12", CacheDir: samba.CacheDirFromEnv()})

// bin holds the binaries built from this checkout.
var bin struct {
	once      sync.Once
	dir       string
	passkdc   string
	passkinit string
	err       error
}

func TestMain(m *testing.M) {
	code := shared.Run(m)
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// binaries builds cmd/passkdc and cmd/passkinit once per test run.
func binaries(t *testing.T) (passkdc, passkinit string) {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "passkdc-bin-")
		if bin.err != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		for _, name := range []string{"passkdc", "passkinit"} {
			out := filepath.Join(bin.dir, name)
			cmd := exec.CommandContext(context.Background(), "go", "build", "-o", out, "./cmd/"+name)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				bin.err = fmt.Errorf("go build %s: %w\n%s", name, err, b)
				return
			}
		}
		bin.passkdc, bin.passkinit = filepath.Join(bin.dir, "passkdc"), filepath.Join(bin.dir, "passkinit")
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.passkdc, bin.passkinit
}
