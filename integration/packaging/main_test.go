package packaging

import (
	"os"
	"testing"

	"github.com/passkdc/passkdc/integration/samba"
)

// The test DC the installed `passkdc check` runs against, on its own
// loopback address (started only by a test that installs the package).
var shared = samba.NewShared(samba.Options{IP: "127.0.0.80", CacheDir: samba.CacheDirFromEnv()})

func TestMain(m *testing.M) { os.Exit(shared.Run(m)) }
