package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/passkdc/passkdc/store"
)

// credOp names an operation on a credential in errors.
func credOp(op string, id []byte) string {
	return op + " " + base64.RawURLEncoding.EncodeToString(id)
}

// ---- credentials

func scanCredential(r rowScanner) (store.Credential, error) {
	var c store.Credential
	var transports string
	var created, used, revoked sql.NullInt64
	err := r.Scan(&c.ID, &c.Principal, &c.Name, &c.PublicKey, &c.AttestationType, &c.AttestationFmt,
		&c.AAGUID, &transports, &c.SignCount, &c.BackupEligible, &c.BackupState, &c.UserVerified,
		&c.Profile, &created, &used, &revoked, &c.AttestationVerified, &c.AttestationStatement)
	if err != nil {
		return store.Credential{}, err
	}
	c.ID, c.PublicKey, c.AAGUID = nilIfEmpty(c.ID), nilIfEmpty(c.PublicKey), nilIfEmpty(c.AAGUID)
	c.CreatedAt, c.LastUsedAt, c.RevokedAt = decTime(created), decTime(used), decTime(revoked)
	c.Transports, err = decStrings(transports)
	return c, err
}

// CreateCredential stores c; ErrExists on a duplicate ID.
func (x *txn) CreateCredential(ctx context.Context, c store.Credential) error {
	op := credOp("create credential", c.ID)
	if len(c.ID) == 0 {
		return errInvalid(op, "credential ID")
	}
	ts, err := encTimes(c.CreatedAt, c.LastUsedAt, c.RevokedAt)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	transports, err := encStrings(c.Transports)
	if err != nil {
		return err
	}
	if err := x.markCredentials(ctx, op); err != nil {
		return err
	}
	_, err = x.exec(ctx, qInsertCredential, c.ID, c.Principal, c.Name, c.PublicKey, c.AttestationType,
		c.AttestationFmt, c.AAGUID, transports, c.SignCount, c.BackupEligible, c.BackupState, c.UserVerified,
		c.Profile, ts[0], ts[1], ts[2], c.AttestationVerified, c.AttestationStatement)
	return mapErr(op, err)
}

// GetCredential returns the credential with that ID.
func (x *txn) GetCredential(ctx context.Context, id []byte) (store.Credential, error) {
	c, _, err := x.GetCredentialAndMarker(ctx, id)
	return c, err
}

// credentialRow is the row of qGetCredentialAndMarker.
type credentialRow [16]driver.Value

// GetCredentialAndMarker returns the credential with that ID and the change
// markers, read in one statement on the driver connection (see raw.go).
func (x *txn) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	var row credentialRow
	err := x.raw(ctx, func(c *hotConn) error { return c.queryRow(row[:], qGetCredentialAndMarker, id) })
	var cred store.Credential
	var m store.Markers
	if err == nil {
		cred, m, err = row.decode(id)
	}
	if err != nil {
		return store.Credential{}, store.Markers{}, mapErr(credOp("get credential", id), err)
	}
	return cred, m, nil
}

// decode turns the row of credential id into a Credential and the markers.
func (r *credentialRow) decode(id []byte) (store.Credential, store.Markers, error) {
	c := store.Credential{ID: bytes.Clone(id)}
	var transports string
	var count, flags int64
	var m store.Markers
	var created, used, revoked sql.NullInt64
	errs := [...]error{
		readVal(r[0], &c.Principal, valString), readVal(r[1], &c.Name, valString),
		readVal(r[2], &c.PublicKey, valBytes), readVal(r[3], &c.AttestationType, valString),
		readVal(r[4], &c.AttestationFmt, valString), readVal(r[5], &c.AAGUID, valBytes),
		readVal(r[6], &transports, valString), readVal(r[7], &count, valInt),
		readVal(r[8], &flags, valInt), readVal(r[9], &c.Profile, valString),
		readVal(r[10], &created, valTime), readVal(r[11], &used, valTime),
		readVal(r[12], &revoked, valTime), readVal(r[13], &c.AttestationStatement, valString),
		readVal(r[14], &m.Directory, valInt), readVal(r[15], &m.Credentials, valInt),
	}
	if err := errors.Join(errs[:]...); err != nil {
		return store.Credential{}, store.Markers{}, err
	}
	if count < 0 || count > math.MaxUint32 {
		return store.Credential{}, store.Markers{}, fmt.Errorf("sqlite: sign count %d out of range", count)
	}
	c.SignCount = uint32(count)
	c.BackupEligible, c.BackupState = flags&1 != 0, flags&2 != 0
	c.UserVerified, c.AttestationVerified = flags&4 != 0, flags&8 != 0
	c.CreatedAt, c.LastUsedAt, c.RevokedAt = decTime(created), decTime(used), decTime(revoked)
	var err error
	c.Transports, err = decStrings(transports)
	return c, m, err
}

// readVal sets *dst to the value v read with read.
func readVal[T any](v driver.Value, dst *T, read func(driver.Value) (T, error)) error {
	var err error
	*dst, err = read(v)
	return err
}

// ListCredentials lists the credentials of principal ("" all).
func (x *txn) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	q, args := qListCredentials, []any{}
	if principal != "" {
		q, args = qListCredentialsOf, []any{principal}
	}
	rows, err := x.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list credentials", err)
	}
	return collect(rows, "list credentials", scanCredential)
}

// UpdateCredentialUse sets the counter, backup state and last use, if the
// stored counter is still oldCount.
func (x *txn) UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error {
	return x.updateUse(ctx, id, oldCount, newCount, backupState, at, nil)
}

// UpdateCredentialUseIf is UpdateCredentialUse if the markers are still m.
func (x *txn) UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m store.Markers) error {
	return x.updateUse(ctx, id, oldCount, newCount, backupState, at, &m)
}

// updateUse is the compare-and-set of a use: of the counter, and of the
// markers when m is not nil.
func (x *txn) updateUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m *store.Markers) error {
	// The operation's name (the ID in base64) only on failure: this is a
	// sign-in's write.
	op := func() string { return credOp("update credential use", id) }
	used, err := encTime(at)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op(), err)
	}
	var n int64
	err = x.raw(ctx, func(c *hotConn) error {
		var res driver.Result
		var err error
		if m == nil {
			res, err = c.exec(qUpdateCredentialUse, int64(newCount), backupState, nullable(used), id, int64(oldCount))
		} else {
			res, err = c.exec(qUpdateCredentialUseIf, int64(newCount), backupState, nullable(used), id, int64(oldCount),
				m.Directory, m.Credentials)
		}
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	switch {
	case err != nil:
		return mapErr(op(), err)
	case n == 1:
		return nil
	}
	var one int
	err = x.queryRow(ctx, qCredentialExists, id).Scan(&one)
	if err != nil {
		return mapErr(op(), err)
	}
	if m != nil {
		return fmt.Errorf("sqlite: %s: stored counter is not %d or the store changed: %w", op(), oldCount, store.ErrConflict)
	}
	return fmt.Errorf("sqlite: %s: stored counter is not %d: %w", op(), oldCount, store.ErrConflict)
}

// markCredentials moves the credential change marker in x's transaction,
// once: every write of a credential but a use calls it before writing.
func (x *txn) markCredentials(ctx context.Context, op string) error {
	return x.moveMarker(ctx, op, &x.markedCreds, qMoveCredentialMarker)
}

// RenameCredential sets the label of a credential.
func (x *txn) RenameCredential(ctx context.Context, id []byte, name string) error {
	op := credOp("rename credential", id)
	if err := x.markCredentials(ctx, op); err != nil {
		return err
	}
	return x.execOne(ctx, op, qRenameCredential, name, id)
}

// RevokeCredential marks a credential revoked at at (the first time only).
func (x *txn) RevokeCredential(ctx context.Context, id []byte, at time.Time) error {
	op := credOp("revoke credential", id)
	if at.IsZero() {
		return errInvalid(op, "revocation time")
	}
	revoked, err := encTime(at)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if err := x.markCredentials(ctx, op); err != nil {
		return err
	}
	return x.execOne(ctx, op, qRevokeCredential, revoked, id)
}

// DeleteCredential removes a credential.
func (x *txn) DeleteCredential(ctx context.Context, id []byte) error {
	op := credOp("delete credential", id)
	if err := x.markCredentials(ctx, op); err != nil {
		return err
	}
	return x.execOne(ctx, op, qDeleteCredential, id)
}

// ---- sessions

func scanSession(r rowScanner) (store.Session, error) {
	var s store.Session
	var created, expires sql.NullInt64
	err := r.Scan(&s.ID, &s.Kind, &s.Principal, &s.Data, &s.BindingKey, &created, &expires)
	s.Data, s.BindingKey = nilIfEmpty(s.Data), nilIfEmpty(s.BindingKey)
	s.CreatedAt, s.ExpiresAt = decTime(created), decTime(expires)
	return s, err
}

// CreateSession stores s; ErrExists on a duplicate ID.
func (x *txn) CreateSession(ctx context.Context, s store.Session) error {
	op := "create session"
	if s.ID == "" {
		return errInvalid(op, "session ID")
	}
	if s.ExpiresAt.IsZero() {
		return errInvalid(op, "expiry")
	}
	ts, err := encTimes(s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	_, err = x.exec(ctx, qInsertSession, s.ID, s.Kind, s.Principal, s.Data, s.BindingKey, ts[0], ts[1])
	return mapErr(op, err)
}

// GetSession returns the session id of kind without consuming it.
func (x *txn) GetSession(ctx context.Context, id, kind string) (store.Session, error) {
	s, err := scanSession(x.queryRow(ctx, qGetSession, id, kind))
	if err != nil {
		return store.Session{}, mapErr("get "+kind+" session", err)
	}
	return s, nil
}

// ConsumeSession deletes and returns the session id of kind.
func (x *txn) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	op := "consume " + kind + " session"
	s, err := scanSession(x.queryRow(ctx, qConsumeSession, id, kind))
	if err != nil {
		return store.Session{}, mapErr(op, err)
	}
	if !now.Before(s.ExpiresAt) {
		return store.Session{}, fmt.Errorf("sqlite: %s: %w at %s", op, store.ErrExpired, s.ExpiresAt.Format(time.RFC3339))
	}
	return s, nil
}

// CountSessions counts the unexpired sessions of principal and kind ("" any).
func (x *txn) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	t, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count sessions: %w", err)
	}
	var n int
	if principal == "" {
		err = x.queryRow(ctx, qCountSessions, kind, kind, t).Scan(&n)
	} else {
		err = x.queryRow(ctx, qCountSessionsOf, principal, kind, kind, t).Scan(&n)
	}
	return n, mapErr("count sessions", err)
}

// DeleteExpiredSessions removes the sessions expired at now.
func (x *txn) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	t, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired sessions: %w", err)
	}
	kept, err := encTime(now.Add(-store.ChallengeRetention))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired challenges: %w", err)
	}
	if _, err := x.execCount(ctx, "delete expired challenges", qDeleteExpiredChallenges, kept); err != nil {
		return 0, err
	}
	return x.execCount(ctx, "delete expired sessions", qDeleteExpiredSessions, t)
}

// ConsumeChallenge records the single use of challenge id; ErrExists when
// it was used before.
func (x *txn) ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error {
	const op = "consume challenge"
	if len(id) == 0 || len(id) > 64 {
		return errInvalid(op, "challenge ID")
	}
	t, err := encTime(expiresAt)
	if err != nil || expiresAt.IsZero() {
		return errInvalid(op, "expiry")
	}
	var n int64
	err = x.raw(ctx, func(c *hotConn) error {
		res, err := c.exec(qConsumeChallenge, id, t.Int64)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	switch {
	case err != nil:
		return mapErr(op, err)
	case n == 0:
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrExists)
	}
	return nil
}

// ServerSecret returns the secret under name, storing candidate when none is.
func (x *txn) ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	const op = "server secret"
	if name == "" || len(candidate) == 0 {
		return nil, errInvalid(op, "name or secret")
	}
	if _, err := x.exec(ctx, qInsertSecret, name, candidate, time.Now().UnixNano()); err != nil {
		return nil, mapErr(op, err)
	}
	var secret []byte
	if err := x.queryRow(ctx, qGetSecret, name).Scan(&secret); err != nil {
		return nil, mapErr(op, err)
	}
	return secret, nil
}

// ---- temporary access passes

func scanTAP(r rowScanner) (store.TAP, error) {
	var t store.TAP
	var created, expires sql.NullInt64
	err := r.Scan(&t.ID, &t.Principal, &t.Hash, &t.UsesLeft, &created, &expires, &t.CreatedBy)
	t.Hash = nilIfEmpty(t.Hash)
	t.CreatedAt, t.ExpiresAt = decTime(created), decTime(expires)
	return t, err
}

// CreateTAP stores t; ErrExists on a duplicate ID or hash.
func (x *txn) CreateTAP(ctx context.Context, t store.TAP) error {
	op := "create pass"
	switch {
	case t.ID == "":
		return errInvalid(op, "pass ID")
	case len(t.Hash) == 0:
		return errInvalid(op, "pass hash")
	case t.ExpiresAt.IsZero():
		return errInvalid(op, "expiry")
	}
	ts, err := encTimes(t.CreatedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	_, err = x.exec(ctx, qInsertTAP, t.ID, t.Principal, t.Hash, t.UsesLeft, ts[0], ts[1], t.CreatedBy)
	return mapErr(op, err)
}

// UseTAP takes one use of the pass with that hash.
func (x *txn) UseTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "use pass"
	nowT, err := encTime(now)
	if err != nil {
		return store.TAP{}, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	t, err := scanTAP(x.queryRow(ctx, qUseTAP, hash, nowT))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return store.TAP{}, mapErr(op, err)
	}
	// Not taken: say why.
	t, err = scanTAP(x.queryRow(ctx, qGetTAPByHash, hash))
	switch {
	case err != nil:
		return store.TAP{}, mapErr(op, err)
	case !now.Before(t.ExpiresAt):
		if t.UsesLeft > 0 {
			if _, err := x.exec(ctx, qExpireTAP, hash); err != nil {
				return store.TAP{}, mapErr(op, err)
			}
		}
		return store.TAP{}, fmt.Errorf("sqlite: %s %s: %w at %s", op, t.ID, store.ErrExpired, t.ExpiresAt.Format(time.RFC3339))
	default:
		return store.TAP{}, fmt.Errorf("sqlite: %s %s: %w", op, t.ID, store.ErrExhausted)
	}
}

// GetTAP reads the pass with that hash and says whether it could be used.
func (x *txn) GetTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "read pass"
	t, err := scanTAP(x.queryRow(ctx, qGetTAPByHash, hash))
	switch {
	case err != nil:
		return store.TAP{}, mapErr(op, err)
	case !now.Before(t.ExpiresAt):
		return store.TAP{}, fmt.Errorf("sqlite: %s %s: %w at %s", op, t.ID, store.ErrExpired, t.ExpiresAt.Format(time.RFC3339))
	case t.UsesLeft <= 0:
		return store.TAP{}, fmt.Errorf("sqlite: %s %s: %w", op, t.ID, store.ErrExhausted)
	}
	return t, nil
}

// ListTAPs lists the passes of principal ("" all).
func (x *txn) ListTAPs(ctx context.Context, principal string) ([]store.TAP, error) {
	q, args := qListTAPs, []any{}
	if principal != "" {
		q, args = qListTAPsOf, []any{principal}
	}
	rows, err := x.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr("list passes", err)
	}
	return collect(rows, "list passes", scanTAP)
}

// DeleteTAP removes the pass with that ID.
func (x *txn) DeleteTAP(ctx context.Context, id string) error {
	return x.execOne(ctx, "delete pass "+id, qDeleteTAP, id)
}

// ---- audit

func scanAudit(r rowScanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var t sql.NullInt64
	err := r.Scan(&a.ID, &t, &a.Event, &a.Result, &a.Reason, &a.Principal, &a.CredentialID, &a.KVNO,
		&a.Remote, &a.Detail)
	a.Time = decTime(t)
	return a, err
}

// AppendAudit stores r and returns its new ID.
func (x *txn) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	const op = "append audit"
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	t, err := encTime(r.Time)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var id int64
	err = x.raw(ctx, func(c *hotConn) error {
		res, err := c.exec(qAppendAudit, t.Int64, r.Event, r.Result, r.Reason, r.Principal, r.CredentialID,
			int64(r.KVNO), r.Remote, r.Detail)
		if err == nil {
			id, err = res.LastInsertId()
		}
		return err
	})
	return id, mapErr(op, err)
}

// GetAudit returns the record with ID id.
func (x *txn) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	r, err := scanAudit(x.queryRow(ctx, qGetAudit, id))
	if err != nil {
		return store.AuditRecord{}, mapErr("get audit record", err)
	}
	return r, nil
}

// ListAudit lists records after afterID in ID order, at most limit (<= 0: all).
func (x *txn) ListAudit(ctx context.Context, afterID int64, limit int) ([]store.AuditRecord, error) {
	rows, err := x.query(ctx, qListAudit, afterID, limitArg(limit))
	if err != nil {
		return nil, mapErr("list audit", err)
	}
	return collect(rows, "list audit", scanAudit)
}
