package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ErrSchemaTooNew is returned by Open when the database was migrated by a newer
// passkdc than this one: its schema version is above every version this binary
// knows, so this binary refuses to touch it.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this passkdc")

// migration is one schema step. Versions start at 1 and are contiguous; a
// released migration is never edited, only followed by a new one.
type migration struct {
	version int
	name    string
	stmts   []string
}

// migrations returns the schema history, oldest first.
//
// Conventions: times are INTEGER UTC Unix nanoseconds (NULL = zero time),
// booleans INTEGER 0/1, byte strings BLOB, string lists JSON TEXT. name_key and
// realm_key hold the case-folded name and realm for case-insensitive lookups.
func migrations() []migration {
	return []migration{{
		version: 1,
		name:    "initial schema",
		stmts: []string{
			`CREATE TABLE principals (
				anchor       TEXT PRIMARY KEY,
				directory    TEXT NOT NULL,
				name         TEXT NOT NULL,
				name_key     TEXT NOT NULL,
				realm        TEXT NOT NULL,
				realm_key    TEXT NOT NULL,
				upn          TEXT NOT NULL,
				sid          TEXT NOT NULL,
				dn           TEXT NOT NULL,
				display_name TEXT NOT NULL,
				enabled      INTEGER NOT NULL,
				deleted      INTEGER NOT NULL,
				expires      INTEGER,
				change_mark  TEXT NOT NULL,
				synced_at    INTEGER,
				generation   INTEGER NOT NULL
			)`,
			`CREATE INDEX principals_by_name ON principals (realm_key, name_key)`,
			`CREATE INDEX principals_by_list ON principals (name, anchor)`,
			`CREATE INDEX principals_by_generation ON principals (directory, generation)`,
			`CREATE TABLE directory_groups (
				anchor      TEXT PRIMARY KEY,
				directory   TEXT NOT NULL,
				name        TEXT NOT NULL,
				dn          TEXT NOT NULL,
				sid         TEXT NOT NULL,
				deleted     INTEGER NOT NULL,
				change_mark TEXT NOT NULL,
				synced_at   INTEGER,
				generation  INTEGER NOT NULL
			)`,
			`CREATE INDEX directory_groups_by_generation ON directory_groups (directory, generation)`,
			`CREATE TABLE memberships (
				member       TEXT NOT NULL,
				group_anchor TEXT NOT NULL,
				PRIMARY KEY (member, group_anchor)
			)`,
			`CREATE INDEX memberships_by_group ON memberships (group_anchor)`,
			`CREATE TABLE sync_state (
				directory     TEXT PRIMARY KEY,
				high_water    TEXT NOT NULL,
				invocation_id TEXT NOT NULL,
				generation    INTEGER NOT NULL,
				last_full     INTEGER,
				last_sync     INTEGER
			)`,
			`CREATE TABLE generations (
				directory TEXT PRIMARY KEY,
				last      INTEGER NOT NULL
			)`,
			`CREATE TABLE credentials (
				id               BLOB PRIMARY KEY,
				principal        TEXT NOT NULL REFERENCES principals (anchor),
				name             TEXT NOT NULL,
				public_key       BLOB,
				attestation_type TEXT NOT NULL,
				attestation_fmt  TEXT NOT NULL,
				aaguid           BLOB,
				transports       TEXT NOT NULL,
				sign_count       INTEGER NOT NULL,
				backup_eligible  INTEGER NOT NULL,
				backup_state     INTEGER NOT NULL,
				user_verified    INTEGER NOT NULL,
				profile          TEXT NOT NULL,
				created_at       INTEGER,
				last_used_at     INTEGER,
				revoked_at       INTEGER
			)`,
			`CREATE INDEX credentials_by_principal ON credentials (principal)`,
			`CREATE TABLE sessions (
				id          TEXT PRIMARY KEY,
				kind        TEXT NOT NULL,
				principal   TEXT NOT NULL,
				data        BLOB,
				binding_key BLOB,
				created_at  INTEGER,
				expires_at  INTEGER NOT NULL
			)`,
			`CREATE INDEX sessions_by_expiry ON sessions (expires_at)`,
			`CREATE INDEX sessions_by_principal ON sessions (principal, kind)`,
			`CREATE TABLE taps (
				id         TEXT PRIMARY KEY,
				principal  TEXT NOT NULL REFERENCES principals (anchor),
				hash       BLOB NOT NULL UNIQUE,
				uses_left  INTEGER NOT NULL,
				created_at INTEGER,
				expires_at INTEGER NOT NULL,
				created_by TEXT NOT NULL
			)`,
			`CREATE INDEX taps_by_principal ON taps (principal)`,
			`CREATE TABLE audit (
				id            INTEGER PRIMARY KEY AUTOINCREMENT,
				time          INTEGER NOT NULL,
				event         TEXT NOT NULL,
				result        TEXT NOT NULL,
				reason        TEXT NOT NULL,
				principal     TEXT NOT NULL,
				credential_id TEXT NOT NULL,
				kvno          INTEGER NOT NULL,
				remote        TEXT NOT NULL,
				detail        TEXT NOT NULL
			)`,
			`CREATE INDEX audit_by_principal ON audit (principal, id)`,
		},
	}, {
		version: 2,
		name:    "credential attestation record",
		stmts: []string{
			`ALTER TABLE credentials ADD COLUMN attestation_verified INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE credentials ADD COLUMN attestation_statement TEXT NOT NULL DEFAULT ''`,
		},
	}, {
		version: 3,
		name:    "stateless sign-in challenges",
		stmts: []string{
			`CREATE TABLE consumed_challenges (
				id         BLOB PRIMARY KEY,
				expires_at INTEGER NOT NULL
			)`,
			`CREATE INDEX consumed_challenges_by_expiry ON consumed_challenges (expires_at)`,
			`CREATE TABLE server_secrets (
				name       TEXT PRIMARY KEY,
				secret     BLOB NOT NULL,
				created_at INTEGER NOT NULL
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

// migrate brings the schema of db to the last of migs, one migration per
// transaction, and refuses a database newer than migs. db must be the writer
// pool, whose transactions begin IMMEDIATE: two processes opening the same file
// at once then serialise on the write lock and each re-reads the version.
func migrate(ctx context.Context, db *sql.DB, migs []migration) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	for {
		done, err := migrateStep(ctx, db, migs)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the migration after the current version, if any, in its
// own transaction; done reports that the schema is up to date.
func migrateStep(ctx context.Context, db *sql.DB, migs []migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlite: migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	cur, err := schemaVersion(ctx, tx)
	if err != nil {
		return false, err
	}
	if cur > len(migs) {
		return false, fmt.Errorf("%w: database version %d, this binary knows up to %d; upgrade passkdc or restore a backup",
			ErrSchemaTooNew, cur, len(migs))
	}
	if cur == len(migs) {
		return true, nil
	}
	m := migs[cur]
	if m.version != cur+1 {
		return false, fmt.Errorf("sqlite: migration list broken: want version %d, have %d", cur+1, m.version)
	}
	for _, stmt := range m.stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return false, fmt.Errorf("sqlite: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, time.Now().UnixNano()); err != nil {
		return false, fmt.Errorf("sqlite: migration %d: record: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlite: migration %d: commit: %w", m.version, err)
	}
	return false, nil
}

// schemaVersion reads the highest applied migration (0 for a new database).
func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: read schema version: %w", err)
	}
	return v, nil
}
