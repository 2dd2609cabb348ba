package postgres

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/passkdc/passkdc/integration/pgtest"
	"github.com/passkdc/passkdc/store"
	"github.com/passkdc/passkdc/store/conformance"
)

// signInCredentials is how many credentials BenchmarkSignInFinish signs in
// with (one per principal), so that concurrent clients rarely share a row.
const signInCredentials = 64

// BenchmarkSignInFinish measures the store work of one sign-in's finish as
// the server does it: the credential read with the change marker, then one
// transaction consuming the challenge, moving the sign counter and
// appending the audit record. It reports allocations, the process's CPU per
// sign-in (the client side only: PostgreSQL is another process) and the
// 99th percentile of a sign-in's latency, one client at a time and from
// several.
//
//	go test -run '^$' -bench SignInFinish -benchtime 3000x ./store/postgres
func BenchmarkSignInFinish(b *testing.B) {
	srv := pgtest.Start(b)
	s := openTest(b, srv.NewSchema(b))
	ctx := b.Context()
	for i := range signInCredentials {
		p := store.Principal{Anchor: fmt.Sprint("a-", i), Name: fmt.Sprint("user", i), Realm: "R", Enabled: true}
		if _, err := s.UpsertPrincipal(ctx, p); err != nil {
			b.Fatal(err)
		}
		c := store.Credential{ID: benchCredID(i), Principal: p.Anchor, PublicKey: make([]byte, 77),
			AAGUID: make([]byte, 16), Transports: []string{"internal", "hybrid"}, CreatedAt: time.Now()}
		if err := s.CreateCredential(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	var round atomic.Int64
	for _, clients := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			conformance.BenchSignInFinish(b, s, clients, round.Add(1),
				func(i int) []byte { return benchCredID((i * 7919) % signInCredentials) })
		})
	}
}

// benchCredID is the ID of the i-th benchmark credential.
func benchCredID(i int) []byte {
	return binary.BigEndian.AppendUint32([]byte("bench-credential-id-"), uint32(i))
}
