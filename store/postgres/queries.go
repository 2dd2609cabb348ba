package postgres

// The SQL of every operation. The text follows the SQLite backend's; what
// differs is PostgreSQL's: numbered parameters, booleans, LIMIT NULL for "no
// limit", and inserts that report a duplicate by inserting nothing (ON
// CONFLICT DO NOTHING) rather than by an error, because an error aborts the
// whole PostgreSQL transaction while the interface lets a WithTx caller go on
// after ErrExists, as it can with SQLite.
//
// Race safety: every check-and-change of sign-in state is one UPDATE or DELETE
// whose WHERE clause holds the check. Under READ COMMITTED such a statement
// locks the row (as SELECT ... FOR UPDATE would); a second statement on the
// same row waits for the first transaction to end and then re-evaluates its
// WHERE clause on the row as committed. So of two replicas consuming one
// session only one gets the row, a pass is never used more often than it
// allows, and a sign counter only moves from the value the caller read.
const (
	principalCols = `anchor, directory, name, realm, upn, sid, dn, display_name,
		enabled, deleted, expires, change_mark, synced_at, generation`
	groupCols      = `anchor, directory, name, dn, sid, deleted, change_mark, synced_at, generation`
	credentialCols = `id, principal, name, public_key, attestation_type, attestation_fmt, aaguid,
		transports, sign_count, backup_eligible, backup_state, user_verified, profile,
		created_at, last_used_at, revoked_at, attestation_verified, attestation_statement`
	sessionCols = `id, kind, principal, data, binding_key, created_at, expires_at`
	tapCols     = `id, principal, hash, uses_left, created_at, expires_at, created_by`
	auditCols   = `id, time, event, result, reason, principal, credential_id, kvno, remote, detail`
)

// Principals and groups.
const (
	qGetPrincipal = `SELECT ` + principalCols + ` FROM principals WHERE anchor = $1`
	// qLockPrincipal reads a principal and locks its row until the end of the
	// transaction (UpsertPrincipal compares, then writes).
	qLockPrincipal      = qGetPrincipal + ` FOR UPDATE`
	qGetPrincipalByName = `SELECT ` + principalCols + ` FROM principals
		WHERE realm_key = $1 AND name_key = $2
		ORDER BY deleted, COALESCE(synced_at, 0) DESC, anchor LIMIT 1`
	qListPrincipals = `SELECT ` + principalCols + ` FROM principals
		WHERE ($1 = '' OR directory = $1) AND ($2 OR NOT deleted)
		AND ($3 OR name > $4 OR ($5 AND name = $4 AND anchor > $6))
		ORDER BY name, anchor LIMIT $7`
	qInsertPrincipal = `INSERT INTO principals (name_key, realm_key, ` + principalCols + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		ON CONFLICT (anchor) DO NOTHING`
	qUpdatePrincipal = `UPDATE principals SET name_key = $1, realm_key = $2, directory = $3, name = $4,
		realm = $5, upn = $6, sid = $7, dn = $8, display_name = $9, enabled = $10, deleted = $11,
		expires = $12, change_mark = $13, synced_at = $14, generation = $15 WHERE anchor = $16`
	qMarkPrincipalsDeleted = `UPDATE principals SET deleted = TRUE
		WHERE directory = $1 AND generation < $2 AND NOT deleted`
	qMarkGroupsDeleted = `UPDATE directory_groups SET deleted = TRUE
		WHERE directory = $1 AND generation < $2 AND NOT deleted`
	qGetGroup   = `SELECT ` + groupCols + ` FROM directory_groups WHERE anchor = $1`
	qLockGroup  = qGetGroup + ` FOR UPDATE`
	qListGroups = `SELECT ` + groupCols + ` FROM directory_groups
		WHERE ($1 = '' OR directory = $1) AND NOT deleted ORDER BY name, anchor`
	qInsertGroup = `INSERT INTO directory_groups (` + groupCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (anchor) DO NOTHING`
	qUpdateGroup = `UPDATE directory_groups SET directory = $1, name = $2, dn = $3, sid = $4, deleted = $5,
		change_mark = $6, synced_at = $7, generation = $8 WHERE anchor = $9`
	// qLockMember serialises SetMemberships of one member across replicas (two
	// concurrent replacements would otherwise leave the union of both lists).
	qLockMember        = `SELECT pg_advisory_xact_lock($1, hashtext($2))`
	qDeleteMemberships = `DELETE FROM memberships WHERE member = $1`
	qInsertMemberships = `INSERT INTO memberships (member, group_anchor)
		SELECT $1, g FROM unnest($2::text[]) AS g
		ON CONFLICT (member, group_anchor) DO NOTHING`
	// qTransitiveGroups walks up the group graph from member. UNION (not UNION
	// ALL) drops rows already produced, so a cycle ends the recursion. Only
	// stored, non-deleted groups are produced, hence followed.
	qTransitiveGroups = `WITH RECURSIVE up (anchor) AS (
			SELECT m.group_anchor FROM memberships m
			JOIN directory_groups g ON g.anchor = m.group_anchor AND NOT g.deleted
			WHERE m.member = $1
		UNION
			SELECT m.group_anchor FROM up
			JOIN memberships m ON m.member = up.anchor
			JOIN directory_groups g ON g.anchor = m.group_anchor AND NOT g.deleted
		)
		SELECT ` + groupCols + ` FROM directory_groups WHERE anchor IN (SELECT anchor FROM up)
		ORDER BY name, anchor`
	// qAnalyzeDirectory refreshes the planner's statistics of the tables
	// qTransitiveGroups and the principal reads use (analyzeDirectory).
	qAnalyzeDirectory = `ANALYZE principals, directory_groups, memberships`
	qGetSyncState     = `SELECT directory, high_water, invocation_id, generation, last_full, last_sync
		FROM sync_state WHERE directory = $1`
	qPutSyncState = `INSERT INTO sync_state (directory, high_water, invocation_id, generation, last_full, last_sync)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (directory) DO UPDATE SET high_water = excluded.high_water,
		invocation_id = excluded.invocation_id, generation = excluded.generation,
		last_full = excluded.last_full, last_sync = excluded.last_sync`
	qNextGeneration = `INSERT INTO generations (directory, last) VALUES ($1, 1)
		ON CONFLICT (directory) DO UPDATE SET last = generations.last + 1
		RETURNING last`
)

// Credentials.
const (
	// qInsertCredential inserts nothing for a duplicate ID or an unknown
	// principal (principals are never deleted, so the foreign key holds).
	qInsertCredential = `INSERT INTO credentials (` + credentialCols + `)
		SELECT $1::bytea, $2::text, $3::text, $4::bytea, $5::text, $6::text, $7::bytea, $8::text[],
			$9::bigint, $10::boolean, $11::boolean, $12::boolean, $13::text, $14::bigint, $15::bigint, $16::bigint,
			$17::boolean, $18::text
		WHERE EXISTS (SELECT 1 FROM principals WHERE anchor = $2)
		ON CONFLICT (id) DO NOTHING`
	qGetCredential = `SELECT ` + credentialCols + ` FROM credentials WHERE id = $1`
	// qGetCredentialAndMarker reads the change markers in the same statement
	// (one snapshot) as the credential.
	qGetCredentialAndMarker = `SELECT ` + credentialCols + `, m.d, m.c
		FROM credentials, (SELECT value AS d, credentials AS c FROM change_marker WHERE id = 1) AS m
		WHERE credentials.id = $1`
	// The listings by principal are separate statements, not "$1 = '' OR
	// principal = $1": a generic plan of that OR (which PostgreSQL may pick
	// for a prepared statement after five runs) cannot use the index.
	qListCredentials   = `SELECT ` + credentialCols + ` FROM credentials ORDER BY COALESCE(created_at, 0), id`
	qListCredentialsOf = `SELECT ` + credentialCols + ` FROM credentials
		WHERE principal = $1 ORDER BY COALESCE(created_at, 0), id`
	// qUpdateCredentialUse is the compare-and-set of the sign counter.
	qUpdateCredentialUse = `UPDATE credentials SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND sign_count = $5`
	// qUpdateCredentialUseIf is qUpdateCredentialUse that also requires both
	// markers to be what the caller read and the credential unrevoked
	// (store.Tx.UpdateCredentialUseIf). The markers' subquery reads the
	// statement's snapshot; the revocation is checked on the row the update
	// locks, so a revocation committed while the update waited for that
	// row fails it too.
	qUpdateCredentialUseIf = `UPDATE credentials SET sign_count = $1, backup_state = $2, last_used_at = $3
		WHERE id = $4 AND sign_count = $5 AND revoked_at IS NULL
		AND (SELECT value = $6 AND credentials = $7 FROM change_marker WHERE id = 1)`
	qCredentialExists = `SELECT EXISTS (SELECT 1 FROM credentials WHERE id = $1)`
	qPrincipalExists  = `SELECT EXISTS (SELECT 1 FROM principals WHERE anchor = $1)`
	qRenameCredential = `UPDATE credentials SET name = $1 WHERE id = $2`
	qRevokeCredential = `UPDATE credentials SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2`
	qDeleteCredential = `DELETE FROM credentials WHERE id = $1`
)

// Sessions.
const (
	qInsertSession = `INSERT INTO sessions (` + sessionCols + `) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO NOTHING`
	// qConsumeSession deletes and returns in one statement: of two concurrent
	// consumers only one gets the row.
	qConsumeSession  = `DELETE FROM sessions WHERE id = $1 AND kind = $2 RETURNING ` + sessionCols
	qGetSession      = `SELECT ` + sessionCols + ` FROM sessions WHERE id = $1 AND kind = $2`
	qCountSessions   = `SELECT COUNT(*) FROM sessions WHERE ($1 = '' OR kind = $1) AND expires_at > $2`
	qCountSessionsOf = `SELECT COUNT(*) FROM sessions
		WHERE principal = $1 AND ($2 = '' OR kind = $2) AND expires_at > $3`
	qDeleteExpiredSessions = `DELETE FROM sessions WHERE expires_at <= $1`
)

// Consumed challenges and server secrets. Both inserts do nothing on a
// conflict (a unique violation would abort the transaction, and the
// refusal's audit record must still be written in it).
const (
	qConsumeChallenge        = `INSERT INTO consumed_challenges (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`
	qDeleteExpiredChallenges = `DELETE FROM consumed_challenges WHERE expires_at <= $1`
	qInsertSecret            = `INSERT INTO server_secrets (name, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`
	qGetSecret               = `SELECT secret FROM server_secrets WHERE name = $1`
)

// Temporary access passes.
const (
	// qInsertTAP inserts nothing for a duplicate ID or hash, or an unknown principal.
	qInsertTAP = `INSERT INTO taps (` + tapCols + `)
		SELECT $1::text, $2::text, $3::bytea, $4::integer, $5::bigint, $6::bigint, $7::text
		WHERE EXISTS (SELECT 1 FROM principals WHERE anchor = $2)
		ON CONFLICT DO NOTHING`
	// qUseTAP takes one use of an unexpired pass in one statement.
	qUseTAP = `UPDATE taps SET uses_left = uses_left - 1
		WHERE hash = $1 AND uses_left > 0 AND expires_at > $2 RETURNING ` + tapCols
	qGetTAPByHash = `SELECT ` + tapCols + ` FROM taps WHERE hash = $1`
	qExpireTAP    = `UPDATE taps SET uses_left = 0 WHERE hash = $1`
	qListTAPs     = `SELECT ` + tapCols + ` FROM taps ORDER BY COALESCE(created_at, 0), id`
	qListTAPsOf   = `SELECT ` + tapCols + ` FROM taps WHERE principal = $1 ORDER BY COALESCE(created_at, 0), id`
	qDeleteTAP    = `DELETE FROM taps WHERE id = $1`
)

// Audit.
const (
	// qAppendAudit takes no lock: appends of every replica run side by side.
	// The transaction's ID is assigned (pg_current_xact_id, in the row's
	// source) before the identity value is drawn, which is what ListAudit's
	// horizon relies on: whoever holds an audit ID is, from then until its
	// commit, a transaction in progress.
	qAppendAudit = `WITH x AS MATERIALIZED (SELECT pg_current_xact_id() AS xid)
		INSERT INTO audit (time, event, result, reason, principal, credential_id, kvno, remote, detail)
		SELECT $1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text, $7::bigint, $8::text, $9::text
		FROM x WHERE x.xid IS NOT NULL RETURNING id`
	// The horizon of ListAudit: the last audit ID drawn (qAuditHorizon),
	// then a transaction ID drawn after it (qAuditMark, in a transaction of
	// its own, committed at once), then, until it holds, qAuditSettled: no
	// transaction older than the mark is still in progress for a new
	// snapshot (but the reader's own, $2). Every audit ID up to the horizon
	// was drawn by a transaction holding an older ID than the mark (IDs are
	// drawn after the transaction ID, see qAppendAudit), so once settled
	// every record up to the horizon is committed or rolled back for good.
	qAuditHorizon = `SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('audit', 'id')), 0)`
	qAuditMark    = `SELECT pg_current_xact_id()::text`
	qAuditOwn     = `SELECT COALESCE(pg_current_xact_id_if_assigned()::text, '')`
	qAuditSettled = `SELECT NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) x
		WHERE x < $1::text::xid8 AND x::text <> $2)`
	qListAudit = `SELECT ` + auditCols + ` FROM audit WHERE id > $1 AND id <= $3 ORDER BY id LIMIT $2`
	qGetAudit  = `SELECT ` + auditCols + ` FROM audit WHERE id = $1`
)

const qGroupMembers = `SELECT member FROM memberships WHERE group_anchor = $1 ORDER BY member COLLATE "C"`

// The directory change marker (store.Tx.ChangeMarker).
const (
	qChangeMarker = `SELECT value FROM change_marker WHERE id = 1`
	// qMoveChangeMarkers adds $1 to the directory marker and $2 to the
	// credential marker (store.Markers).
	qMoveChangeMarkers = `UPDATE change_marker SET value = value + $1, credentials = credentials + $2 WHERE id = 1`
)
