package assertion

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/memory"
	"github.com/passkdc/passkdc/store/sqlite"
)

// memFactory makes a fresh in-memory store.
func memFactory(t testing.TB) store.Store {
	t.Helper()
	st := memory.New()
	t.Cleanup(func() { st.Close() })
	return st
}

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

// forStores runs a scenario against the in-memory and the SQLite backends.
func forStores(t *testing.T, run func(t *testing.T, mk storeFactory)) {
	t.Run("mem", func(t *testing.T) { run(t, memFactory) })
	t.Run("sqlite", func(t *testing.T) { run(t, sqliteFactory) })
}
