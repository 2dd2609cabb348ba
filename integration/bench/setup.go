package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/passkdc/passkdc/internal/softkey"
	"github.com/passkdc/passkdc/keytabs"
	"github.com/passkdc/passkdc/server"
	"github.com/passkdc/passkdc/store"
)

// Fixed names of the bench realm.
const (
	benchRealm  = "BENCH.PASSKDC.TEST"
	benchRPID   = "localhost"
	domainSID   = "S-1-5-21-1111-2222-3333"
	rodcNumber  = 4242
	krbtgtName  = "krbtgt_4242"
	bulkBatch   = 2000
	tapLifetime = time.Hour
)

// population is what setUp put in the store for the load.
type population struct {
	keys []*passkey  // bulk-inserted credentials, ready for the load
	taps []enrolment // principals to register through the API
	dir  string      // server directory
	cfg  childConfig // server configuration
}

// enrolment is a principal with a temporary access pass, registered through
// the API by the bench.
type enrolment struct {
	anchor string
	pass   string
}

// setUp creates the store (dir/passkdc.db, or the PostgreSQL database of
// pgURL when not empty) with n principals in the reveal-on-demand group, the
// RODC keytab, and either credentials (bulk-inserted) or temporary access
// passes (the first viaAPI principals) for all of them.
func setUp(ctx context.Context, dir string, n, viaAPI int, pgURL string) (*population, error) {
	viaAPI = min(viaAPI, n)
	pop := &population{dir: dir, cfg: childConfig{
		Realm: benchRealm, RPID: benchRPID, Store: filepath.Join(dir, "passkdc.db"), PGURL: pgURL,
		Keytab: filepath.Join(dir, "krbtgt.keytab"), Krbtgt: krbtgtName, Number: rodcNumber,
		AllowSID: []string{domainSID + "-571"}, DenySID: []string{domainSID + "-572", "S-1-5-32-544"},
		AuditLog: filepath.Join(dir, "passkdc.log"),
	}}
	if err := writeKeytab(pop.cfg.Keytab); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, pop.cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	allow := store.Group{Anchor: uuid.NewString(), Directory: "default", Name: "Allowed RODC Password Replication Group",
		SID: domainSID + "-571", SyncedAt: time.Now()}
	if _, err := st.UpsertGroup(ctx, allow); err != nil {
		return nil, err
	}
	for lo := 0; lo < n; lo += bulkBatch {
		hi := min(lo+bulkBatch, n)
		batch, err := makeBatch(lo, hi, viaAPI)
		if err != nil {
			return nil, err
		}
		if err := st.WithTx(ctx, func(tx store.Tx) error { return insertBatch(ctx, tx, batch, allow.Anchor) }); err != nil {
			return nil, fmt.Errorf("bulk insert %d-%d: %w", lo, hi, err)
		}
		for _, b := range batch {
			if b.key != nil {
				pop.keys = append(pop.keys, b.key)
			} else {
				pop.taps = append(pop.taps, enrolment{anchor: b.p.Anchor, pass: b.pass})
			}
		}
	}
	return pop, writeChildConfig(dir, pop.cfg)
}

// writeChildConfig writes the server's configuration into dir, 0600 (a
// PostgreSQL URL carries its password).
func writeChildConfig(dir string, cfg childConfig) error {
	b, err := jsonMarshal(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, childConfigFile), b, 0o600)
}

// row is one principal with either a passkey (bulk) or a pass (API).
type row struct {
	p    store.Principal
	key  *passkey
	cose []byte
	pass string
}

func makeBatch(lo, hi, viaAPI int) ([]row, error) {
	now := time.Now().UTC()
	out := make([]row, 0, hi-lo)
	for i := lo; i < hi; i++ {
		p := store.Principal{Anchor: uuid.NewString(), Directory: "default", Name: fmt.Sprintf("bench%06d", i),
			Realm: benchRealm, UPN: fmt.Sprintf("bench%06d@bench.passkdc.test", i), SID: fmt.Sprintf("%s-%d", domainSID, 100000+i),
			DisplayName: fmt.Sprintf("Bench User %d", i), Enabled: true, SyncedAt: now, Generation: 1}
		r := row{p: p}
		if i < viaAPI {
			pass := make([]byte, 16)
			if _, err := rand.Read(pass); err != nil {
				return nil, err
			}
			r.pass = hex.EncodeToString(pass)
		} else {
			k, err := newPasskey(benchRPID, []byte(p.Anchor))
			if err != nil {
				return nil, err
			}
			if r.cose, err = k.coseKey(); err != nil {
				return nil, err
			}
			r.key = k
		}
		out = append(out, r)
	}
	return out, nil
}

func insertBatch(ctx context.Context, tx store.Tx, batch []row, group string) error {
	now := time.Now().UTC()
	for _, r := range batch {
		if _, err := tx.UpsertPrincipal(ctx, r.p); err != nil {
			return err
		}
		if err := tx.SetMemberships(ctx, r.p.Anchor, []string{group}); err != nil {
			return err
		}
		if r.key == nil {
			t := store.TAP{ID: uuid.NewString(), Principal: r.p.Anchor, Hash: server.HashTAP(r.pass), UsesLeft: 1,
				CreatedAt: now, ExpiresAt: now.Add(tapLifetime), CreatedBy: "bench"}
			if err := tx.CreateTAP(ctx, t); err != nil {
				return err
			}
			continue
		}
		c := store.Credential{ID: r.key.credID, Principal: r.p.Anchor, Name: "bench", PublicKey: r.cose,
			AttestationType: "none", AttestationFmt: "none", AAGUID: softkey.AAGUID[:], Transports: []string{"internal"},
			UserVerified: true, Profile: "default", CreatedAt: now}
		if err := tx.CreateCredential(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// writeKeytab writes a random aes256 key of krbtgt_N (kvno N<<16|1), 0600.
func writeKeytab(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	kt := &keytabs.Keytab{Entries: []keytabs.Entry{{
		Principal: keytabs.NewPrincipal(benchRealm, krbtgtName), Timestamp: time.Now().UTC().Truncate(time.Second),
		KVNO: keytabs.EncodeKVNO(rodcNumber, 1), Key: types.EncryptionKey{KeyType: 18, KeyValue: key},
	}}}
	return kt.WriteFile(path)
}
