package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrSchemaTooNew is returned by Open when the database was migrated by a newer
// passkdc than this one: its schema version is above every version this binary
// knows, so this binary refuses to touch it.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this passkdc")

// Advisory lock keys (two-int form: namespace, key). Advisory locks are
// per database, so every passkdc replica on the database shares them.
const (
	lockNamespace   = 0x706b6463 // "pkdc"
	lockMigrate     = 1          // schema migrations
	lockMemberships = 0x706b6464 // namespace of per-member locks (key: hashtext(member))
)

// migration is one schema step. Versions start at 1 and are contiguous; a
// released migration is never edited, only followed by a new one.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations returns the schema history, oldest first.
//
// Conventions (those of the SQLite backend, so that both behave alike): times
// are BIGINT UTC Unix nanoseconds (NULL = zero time; timestamptz keeps only
// microseconds), byte strings BYTEA, string lists TEXT[]. Columns that lists
// are ordered or paged by use the "C" collation, so that order is byte order
// whatever the database's locale. name_key and realm_key hold the case-folded
// name and realm (folded in Go, as in SQLite) for case-insensitive lookups.
func migrations() []migration {
	return []migration{{
		version: 1,
		name:    "initial schema",
		stmts: []string{
			`CREATE TABLE principals (
				anchor       TEXT COLLATE "C" PRIMARY KEY,
				directory    TEXT COLLATE "C" NOT NULL,
				name         TEXT COLLATE "C" NOT NULL,
				name_key     TEXT COLLATE "C" NOT NULL,
				realm        TEXT NOT NULL,
				realm_key    TEXT COLLATE "C" NOT NULL,
				upn          TEXT NOT NULL,
				sid          TEXT NOT NULL,
				dn           TEXT NOT NULL,
				display_name TEXT NOT NULL,
				enabled      BOOLEAN NOT NULL,
				deleted      BOOLEAN NOT NULL,
				expires      BIGINT,
				change_mark  TEXT NOT NULL,
				synced_at    BIGINT,
				generation   BIGINT NOT NULL
			)`,
			`CREATE INDEX principals_by_name ON principals (realm_key, name_key)`,
			`CREATE INDEX principals_by_list ON principals (name, anchor)`,
			`CREATE INDEX principals_by_generation ON principals (directory, generation)`,
			`CREATE TABLE directory_groups (
				anchor      TEXT COLLATE "C" PRIMARY KEY,
				directory   TEXT COLLATE "C" NOT NULL,
				name        TEXT COLLATE "C" NOT NULL,
				dn          TEXT NOT NULL,
				sid         TEXT NOT NULL,
				deleted     BOOLEAN NOT NULL,
				change_mark TEXT NOT NULL,
				synced_at   BIGINT,
				generation  BIGINT NOT NULL
			)`,
			`CREATE INDEX directory_groups_by_generation ON directory_groups (directory, generation)`,
			`CREATE TABLE memberships (
				member       TEXT COLLATE "C" NOT NULL,
				group_anchor TEXT COLLATE "C" NOT NULL,
				PRIMARY KEY (member, group_anchor)
			)`,
			`CREATE INDEX memberships_by_group ON memberships (group_anchor)`,
			`CREATE TABLE sync_state (
				directory     TEXT COLLATE "C" PRIMARY KEY,
				high_water    TEXT NOT NULL,
				invocation_id TEXT NOT NULL,
				generation    BIGINT NOT NULL,
				last_full     BIGINT,
				last_sync     BIGINT
			)`,
			`CREATE TABLE generations (
				directory TEXT COLLATE "C" PRIMARY KEY,
				last      BIGINT NOT NULL
			)`,
			`CREATE TABLE credentials (
				id               BYTEA PRIMARY KEY,
				principal        TEXT COLLATE "C" NOT NULL REFERENCES principals (anchor),
				name             TEXT NOT NULL,
				public_key       BYTEA,
				attestation_type TEXT NOT NULL,
				attestation_fmt  TEXT NOT NULL,
				aaguid           BYTEA,
				transports       TEXT[] NOT NULL,
				sign_count       BIGINT NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
				backup_eligible  BOOLEAN NOT NULL,
				backup_state     BOOLEAN NOT NULL,
				user_verified    BOOLEAN NOT NULL,
				profile          TEXT NOT NULL,
				created_at       BIGINT,
				last_used_at     BIGINT,
				revoked_at       BIGINT
			)`,
			`CREATE INDEX credentials_by_principal ON credentials (principal)`,
			`CREATE TABLE sessions (
				id          TEXT COLLATE "C" PRIMARY KEY,
				kind        TEXT COLLATE "C" NOT NULL,
				principal   TEXT COLLATE "C" NOT NULL,
				data        BYTEA,
				binding_key BYTEA,
				created_at  BIGINT,
				expires_at  BIGINT NOT NULL
			)`,
			`CREATE INDEX sessions_by_expiry ON sessions (expires_at)`,
			`CREATE INDEX sessions_by_principal ON sessions (principal, kind)`,
			`CREATE TABLE taps (
				id         TEXT COLLATE "C" PRIMARY KEY,
				principal  TEXT COLLATE "C" NOT NULL REFERENCES principals (anchor),
				hash       BYTEA NOT NULL UNIQUE,
				uses_left  INTEGER NOT NULL,
				created_at BIGINT,
				expires_at BIGINT NOT NULL,
				created_by TEXT NOT NULL
			)`,
			`CREATE INDEX taps_by_principal ON taps (principal)`,
			`CREATE TABLE audit (
				id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				time          BIGINT NOT NULL,
				event         TEXT NOT NULL,
				result        TEXT NOT NULL,
				reason        TEXT NOT NULL,
				principal     TEXT NOT NULL,
				credential_id TEXT NOT NULL,
				kvno          BIGINT NOT NULL,
				remote        TEXT NOT NULL,
				detail        TEXT NOT NULL
			)`,
			`CREATE INDEX audit_by_principal ON audit (principal, id)`,
		},
	}, {
		version: 2,
		name:    "credential attestation record",
		stmts: []string{
			`ALTER TABLE credentials ADD COLUMN attestation_verified BOOLEAN NOT NULL DEFAULT FALSE`,
			`ALTER TABLE credentials ADD COLUMN attestation_statement TEXT NOT NULL DEFAULT ''`,
		},
	}, {
		version: 3,
		name:    "stateless sign-in challenges, audit without a global lock",
		stmts: []string{
			`CREATE TABLE consumed_challenges (
				id         BYTEA PRIMARY KEY,
				expires_at BIGINT NOT NULL
			)`,
			`CREATE INDEX consumed_challenges_by_expiry ON consumed_challenges (expires_at)`,
			`CREATE TABLE server_secrets (
				name       TEXT PRIMARY KEY,
				secret     BYTEA NOT NULL,
				created_at BIGINT NOT NULL
			)`,
		},
	}, {
		version: 4,
		name:    "directory change marker",
		stmts: []string{
			// One row: the number every transaction that writes principals,
			// groups or memberships moves (store.Tx.ChangeMarker).
			`CREATE TABLE change_marker (
				id    INTEGER PRIMARY KEY CHECK (id = 1),
				value BIGINT NOT NULL
			)`,
			`INSERT INTO change_marker (id, value) VALUES (1, 0)`,
		},
	}, {
		version: 5,
		name:    "credential change marker",
		stmts: []string{
			// The number every transaction that creates, renames, revokes
			// or deletes a credential moves (store.Markers.Credentials).
			`ALTER TABLE change_marker ADD COLUMN credentials BIGINT NOT NULL DEFAULT 0`,
		},
	}}
}

// migrate brings the schema to the last of migs, one migration per
// transaction, and refuses a database newer than migs. Each step takes a
// transaction-scoped advisory lock first, so replicas starting together
// apply each migration once: the others wait, then read the new version.
func migrate(ctx context.Context, pool *pgxpool.Pool, migs []migration) error {
	for {
		done, err := migrateStep(ctx, pool, migs)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the migration after the current version, if any;
// done reports that the schema is up to date.
func migrateStep(ctx context.Context, pool *pgxpool.Pool, migs []migration) (done bool, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: migrate: begin: %w", err)
	}
	defer rollback(ctx, tx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, lockNamespace, lockMigrate); err != nil {
		return false, fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return false, fmt.Errorf("postgres: create schema_migrations: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return false, fmt.Errorf("postgres: read schema version: %w", err)
	}
	switch {
	case cur > len(migs):
		return false, fmt.Errorf("%w: database version %d, this binary knows up to %d; upgrade passkdc or restore a backup",
			ErrSchemaTooNew, cur, len(migs))
	case cur == len(migs):
		return true, tx.Commit(ctx)
	}
	m := migs[cur]
	if m.version != cur+1 {
		return false, fmt.Errorf("postgres: migration list broken: want version %d, have %d", cur+1, m.version)
	}
	for _, stmt := range m.stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return false, fmt.Errorf("postgres: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return false, fmt.Errorf("postgres: migration %d: record: %w", m.version, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("postgres: migration %d: commit: %w", m.version, err)
	}
	return false, nil
}

// rollback ends tx if it is still open, also when ctx has ended (pgx would
// otherwise close the connection instead of returning it to the pool).
func rollback(ctx context.Context, tx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = tx.Rollback(rctx) // ErrTxClosed after Commit: nothing to do
}
