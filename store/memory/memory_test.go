package memory_test

import (
	"testing"

	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/conformance"
	"github.com/passkdc/passkdc/store/memory"
)

func newStore(t *testing.T) *memory.Store {
	s := memory.New()
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) store.Store { return newStore(t) })
}
