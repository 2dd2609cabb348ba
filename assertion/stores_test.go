package assertion

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/sqlite"
)

// sqliteFactory opens a fresh SQLite store in a temporary directory.
func sqliteFactory(t testing.TB) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "passkdc.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// forStores runs a scenario against the in-memory fake and the SQLite backend.
func forStores(t *testing.T, run func(t *testing.T, mk storeFactory)) {
	t.Run("mem", func(t *testing.T) { run(t, memFactory) })
	t.Run("sqlite", func(t *testing.T) { run(t, sqliteFactory) })
}
