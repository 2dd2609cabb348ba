package sqlite

// The SQL of every operation. Plain "?" parameters, standard SQL apart from
// LIMIT -1 ("no limit") and AUTOINCREMENT, so that the PostgreSQL backend can
// start from the same text.
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
	// qGetPrincipal and qTransitiveGroups are the reads of a sign-in whose
	// principal the view does not hold: their columns are named like the
	// credential read's (see qGetCredentialAndMarker), which saves the
	// driver two Go strings per column per query.
	qGetPrincipal = `SELECT +anchor AS a, +directory AS b, +name AS c, +realm AS d, +upn AS e,
		+sid AS f, +dn AS g, +display_name AS h, +enabled AS i, +deleted AS j, +expires AS k,
		+change_mark AS l, +synced_at AS m, +generation AS n FROM principals WHERE anchor = ?`
	qGetPrincipalByName = `SELECT ` + principalCols + ` FROM principals
		WHERE realm_key = ? AND name_key = ?
		ORDER BY deleted, COALESCE(synced_at, 0) DESC, anchor LIMIT 1`
	qListPrincipals = `SELECT ` + principalCols + ` FROM principals
		WHERE (? = '' OR directory = ?) AND (? OR deleted = 0)
		AND (? OR name > ? OR (? AND name = ? AND anchor > ?))
		ORDER BY name, anchor LIMIT ?`
	qInsertPrincipal = `INSERT INTO principals (name_key, realm_key, ` + principalCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdatePrincipal = `UPDATE principals SET name_key = ?, realm_key = ?, directory = ?, name = ?,
		realm = ?, upn = ?, sid = ?, dn = ?, display_name = ?, enabled = ?, deleted = ?, expires = ?,
		change_mark = ?, synced_at = ?, generation = ? WHERE anchor = ?`
	qMarkPrincipalsDeleted = `UPDATE principals SET deleted = 1
		WHERE directory = ? AND generation < ? AND deleted = 0`
	qMarkGroupsDeleted = `UPDATE directory_groups SET deleted = 1
		WHERE directory = ? AND generation < ? AND deleted = 0`
	qGetGroup   = `SELECT ` + groupCols + ` FROM directory_groups WHERE anchor = ?`
	qListGroups = `SELECT ` + groupCols + ` FROM directory_groups
		WHERE (? = '' OR directory = ?) AND deleted = 0 ORDER BY name, anchor`
	qInsertGroup = `INSERT INTO directory_groups (` + groupCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qUpdateGroup = `UPDATE directory_groups SET directory = ?, name = ?, dn = ?, sid = ?, deleted = ?,
		change_mark = ?, synced_at = ?, generation = ? WHERE anchor = ?`
	qDeleteMemberships = `DELETE FROM memberships WHERE member = ?`
	qInsertMembership  = `INSERT INTO memberships (member, group_anchor) VALUES (?, ?)
		ON CONFLICT (member, group_anchor) DO NOTHING`
	// qTransitiveGroups walks up the group graph from member. UNION (not UNION
	// ALL) drops rows already produced, so a cycle ends the recursion. Only
	// stored, non-deleted groups are produced, hence followed.
	qTransitiveGroups = `WITH RECURSIVE up (anchor) AS (
			SELECT m.group_anchor FROM memberships m
			JOIN directory_groups g ON g.anchor = m.group_anchor AND g.deleted = 0
			WHERE m.member = ?
		UNION
			SELECT m.group_anchor FROM up
			JOIN memberships m ON m.member = up.anchor
			JOIN directory_groups g ON g.anchor = m.group_anchor AND g.deleted = 0
		)
		SELECT +anchor AS a, +directory AS b, +name AS c, +dn AS d, +sid AS e, +deleted AS f,
			+change_mark AS g, +synced_at AS h, +generation AS i
		FROM directory_groups WHERE anchor IN (SELECT anchor FROM up)
		ORDER BY directory_groups.name, directory_groups.anchor`
	qGetSyncState = `SELECT directory, high_water, invocation_id, generation, last_full, last_sync
		FROM sync_state WHERE directory = ?`
	qPutSyncState = `INSERT INTO sync_state (directory, high_water, invocation_id, generation, last_full, last_sync)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (directory) DO UPDATE SET high_water = excluded.high_water,
		invocation_id = excluded.invocation_id, generation = excluded.generation,
		last_full = excluded.last_full, last_sync = excluded.last_sync`
	qNextGeneration = `INSERT INTO generations (directory, last) VALUES (?, 1)
		ON CONFLICT (directory) DO UPDATE SET last = generations.last + 1
		RETURNING last`
)

// Credentials.
const (
	qInsertCredential = `INSERT INTO credentials (` + credentialCols + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// qGetCredentialAndMarker reads the change marker in the same statement
	// (one snapshot) as the credential. It is the sign-in's read (see
	// raw.go): every column is an expression ("+x" is SQLite's no-op
	// operator) with a one-letter name, because the driver makes a Go
	// string of every column's name and declared type per query, and one
	// of one byte or none costs no allocation; the four flags come as the
	// bits of one column (SQLite's | and << bind equally: parenthesised); the ID is the one asked for.
	qGetCredentialAndMarker = `SELECT +principal AS a, +name AS b, +public_key AS c,
		+attestation_type AS d, +attestation_fmt AS e, +aaguid AS f, +transports AS g,
		+sign_count AS h, (backup_eligible != 0) | ((backup_state != 0) << 1) |
		((user_verified != 0) << 2) | ((attestation_verified != 0) << 3) AS i, +profile AS j,
		+created_at AS k, +last_used_at AS l, +revoked_at AS m, +attestation_statement AS n,
		m.value AS o, m.credentials AS p
		FROM credentials AS c, change_marker AS m WHERE c.id = ? AND m.id = 1`
	// The listings by principal are separate statements, not "? = '' OR
	// principal = ?": SQLite plans a prepared statement once, and that OR
	// makes the plan a scan of the whole table (one per sign-in).
	qListCredentials   = `SELECT ` + credentialCols + ` FROM credentials ORDER BY COALESCE(created_at, 0), id`
	qListCredentialsOf = `SELECT ` + credentialCols + ` FROM credentials
		WHERE principal = ? ORDER BY COALESCE(created_at, 0), id`
	qUpdateCredentialUse = `UPDATE credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		WHERE id = ? AND sign_count = ?`
	// qUpdateCredentialUseIf is qUpdateCredentialUse that also requires both
	// markers to be what the caller read (store.Tx.UpdateCredentialUseIf).
	qUpdateCredentialUseIf = `UPDATE credentials SET sign_count = ?, backup_state = ?, last_used_at = ?
		WHERE id = ? AND sign_count = ? AND revoked_at IS NULL
		AND (SELECT value = ? AND credentials = ? FROM change_marker WHERE id = 1)`
	qCredentialExists = `SELECT 1 FROM credentials WHERE id = ?`
	qRenameCredential = `UPDATE credentials SET name = ? WHERE id = ?`
	qRevokeCredential = `UPDATE credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`
	qDeleteCredential = `DELETE FROM credentials WHERE id = ?`
)

// Sessions.
const (
	qInsertSession = `INSERT INTO sessions (` + sessionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	// qConsumeSession deletes and returns in one statement: of two concurrent
	// consumers only one gets the row.
	qConsumeSession = `DELETE FROM sessions WHERE id = ? AND kind = ? RETURNING ` + sessionCols
	qGetSession     = `SELECT ` + sessionCols + ` FROM sessions WHERE id = ? AND kind = ?`
	// Per principal the count uses sessions_by_principal, otherwise the expiry index.
	qCountSessions   = `SELECT COUNT(*) FROM sessions WHERE (? = '' OR kind = ?) AND expires_at > ?`
	qCountSessionsOf = `SELECT COUNT(*) FROM sessions
		WHERE principal = ? AND (? = '' OR kind = ?) AND expires_at > ?`
	qDeleteExpiredSessions = `DELETE FROM sessions WHERE expires_at <= ?`
)

// Consumed challenges and server secrets. Both inserts do nothing on a
// conflict: the caller reads the count (or the stored secret) instead.
const (
	qConsumeChallenge        = `INSERT INTO consumed_challenges (id, expires_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`
	qDeleteExpiredChallenges = `DELETE FROM consumed_challenges WHERE expires_at <= ?`
	qInsertSecret            = `INSERT INTO server_secrets (name, secret, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`
	qGetSecret               = `SELECT secret FROM server_secrets WHERE name = ?`
)

// Temporary access passes.
const (
	qInsertTAP = `INSERT INTO taps (` + tapCols + `) VALUES (?, ?, ?, ?, ?, ?, ?)`
	// qUseTAP takes one use of an unexpired pass in one statement.
	qUseTAP = `UPDATE taps SET uses_left = uses_left - 1
		WHERE hash = ? AND uses_left > 0 AND expires_at > ? RETURNING ` + tapCols
	qGetTAPByHash = `SELECT ` + tapCols + ` FROM taps WHERE hash = ?`
	qExpireTAP    = `UPDATE taps SET uses_left = 0 WHERE hash = ?`
	qListTAPs     = `SELECT ` + tapCols + ` FROM taps ORDER BY COALESCE(created_at, 0), id`
	qListTAPsOf   = `SELECT ` + tapCols + ` FROM taps WHERE principal = ? ORDER BY COALESCE(created_at, 0), id`
	qDeleteTAP    = `DELETE FROM taps WHERE id = ?`
)

// Audit.
const (
	// qAppendAudit's new ID is the row ID (id is its alias): the driver's
	// last insert ID, no result row to read.
	qAppendAudit = `INSERT INTO audit (time, event, result, reason, principal, credential_id, kvno, remote, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qListAudit = `SELECT ` + auditCols + ` FROM audit WHERE id > ? ORDER BY id LIMIT ?`
	qGetAudit  = `SELECT ` + auditCols + ` FROM audit WHERE id = ?`
)

// readQueries are the statements standalone reads run on the reader pool.
func readQueries() []string {
	return []string{
		qGetPrincipal, qGetPrincipalByName, qListPrincipals, qGetGroup, qListGroups,
		qTransitiveGroups, qGetSyncState, qListCredentials, qListCredentialsOf,
		qGetSession, qCountSessions, qCountSessionsOf, qListTAPs, qListTAPsOf, qListAudit, qGetAudit,
		qChangeMarker,
	}
}

const qGroupMembers = `SELECT member FROM memberships WHERE group_anchor = ? ORDER BY member`

// The change markers (store.Markers): the directory's in column value, the
// credentials' in column credentials.
const (
	qChangeMarker         = `SELECT value FROM change_marker WHERE id = 1`
	qMoveChangeMarker     = `UPDATE change_marker SET value = value + 1 WHERE id = 1`
	qMoveCredentialMarker = `UPDATE change_marker SET credentials = credentials + 1 WHERE id = 1`
)
