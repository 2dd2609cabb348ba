package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/passkdc/passkdc/store"
)

// credOp names an operation on a credential in errors.
func credOp(op string, id []byte) string {
	return op + " " + base64.RawURLEncoding.EncodeToString(id)
}

// ---- credentials

func scanCredential(r rowScanner) (store.Credential, error) {
	var c store.Credential
	var created, used, revoked *int64
	err := r.Scan(&c.ID, &c.Principal, &c.Name, &c.PublicKey, &c.AttestationType, &c.AttestationFmt,
		&c.AAGUID, &c.Transports, &c.SignCount, &c.BackupEligible, &c.BackupState, &c.UserVerified,
		&c.Profile, &created, &used, &revoked, &c.AttestationVerified, &c.AttestationStatement)
	if err != nil {
		return store.Credential{}, err
	}
	c.ID, c.PublicKey, c.AAGUID = nilIfEmpty(c.ID), nilIfEmpty(c.PublicKey), nilIfEmpty(c.AAGUID)
	c.Transports = nilIfEmpty(c.Transports)
	c.CreatedAt, c.LastUsedAt, c.RevokedAt = decTime(created), decTime(used), decTime(revoked)
	return c, nil
}

// CreateCredential stores c: ErrExists on a duplicate ID, ErrNotFound for an
// unknown principal.
func (x *txn) CreateCredential(ctx context.Context, c store.Credential) error {
	op := credOp("create credential", c.ID)
	if len(c.ID) == 0 {
		return errInvalid(op, "credential ID")
	}
	if err := checkText(op, append([]string{c.Principal, c.Name, c.AttestationType, c.AttestationFmt, c.Profile, c.AttestationStatement},
		c.Transports...)...); err != nil {
		return err
	}
	ts, err := encTimes(c.CreatedAt, c.LastUsedAt, c.RevokedAt)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	transports := c.Transports
	if transports == nil {
		transports = []string{}
	}
	x.noteCredentialChange()
	n, err := x.execCount(ctx, op, qInsertCredential, c.ID, c.Principal, c.Name, c.PublicKey, c.AttestationType,
		c.AttestationFmt, c.AAGUID, transports, int64(c.SignCount), c.BackupEligible, c.BackupState,
		c.UserVerified, c.Profile, ts[0], ts[1], ts[2], c.AttestationVerified, c.AttestationStatement)
	if err != nil || n == 1 {
		return err
	}
	dup, err := x.exists(ctx, op, qCredentialExists, c.ID)
	switch {
	case err != nil:
		return err
	case dup:
		return fmt.Errorf("postgres: %s: %w", op, store.ErrExists)
	default:
		return fmt.Errorf("postgres: %s: %w: principal %s", op, store.ErrNotFound, c.Principal)
	}
}

// GetCredentialAndMarker returns the credential with that ID and the change
// markers, read in one statement (a hot statement: decoded by decodeCredential).
func (x *txn) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	var c store.Credential
	var m store.Markers
	x.args.reset()
	x.args.bytes(id)
	_, err := x.run(ctx, hotGetCredentialAndMarker, func(v [][]byte) error {
		var err error
		c, m, err = decodeCredential(v)
		return err
	})
	if err != nil {
		return store.Credential{}, store.Markers{}, mapErr(credOp("get credential", id), err)
	}
	return c, m, nil
}

// decodeCredential decodes a binary row of credentialCols followed by the
// change markers, as scanCredential and the markers' scan would: one copy
// holds every byte field, one string every text field.
func decodeCredential(v [][]byte) (store.Credential, store.Markers, error) {
	if len(v) != 20 || v[0] == nil {
		return store.Credential{}, store.Markers{}, errWire
	}
	// Bytes: ID, public key, AAGUID.
	raw := make([]byte, 0, len(v[0])+len(v[3])+len(v[6]))
	raw = append(append(append(raw, v[0]...), v[3]...), v[6]...)
	i1, i2 := len(v[0]), len(v[0])+len(v[3])
	c := store.Credential{ID: raw[:i1:i1], PublicKey: nilIfEmpty(raw[i1:i2:i2]), AAGUID: nilIfEmpty(raw[i2:])}
	// Text: principal, name, attestation type and format, profile,
	// statement, then the transports.
	var scratch [512]byte
	var endsBuf [16]int
	text, ends := scratch[:0], endsBuf[:0]
	for _, col := range [...]int{1, 2, 4, 5, 12, 17} {
		text = append(text, v[col]...)
		ends = append(ends, len(text))
	}
	text, ends, err := wireTextArray(v[7], text, ends)
	if err != nil {
		return store.Credential{}, store.Markers{}, err
	}
	all := string(text)
	field := func(i int) string {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		return all[start:ends[i]]
	}
	c.Principal, c.Name, c.AttestationType, c.AttestationFmt, c.Profile, c.AttestationStatement =
		field(0), field(1), field(2), field(3), field(4), field(5)
	if n := len(ends) - 6; n > 0 {
		c.Transports = make([]string, n)
		for i := range n {
			c.Transports[i] = field(6 + i)
		}
	}
	return decodeCredentialNumbers(c, v)
}

// decodeCredentialNumbers decodes decodeCredential's counter, flags, times
// and the markers.
func decodeCredentialNumbers(c store.Credential, v [][]byte) (store.Credential, store.Markers, error) {
	count, err1 := wireInt8(v[8])
	var flags [4]bool
	var errs [6]error
	for i, col := range [...]int{9, 10, 11, 16} {
		flags[i], errs[i] = wireBool(v[col])
	}
	created, err2 := wireTime(v[13])
	used, err3 := wireTime(v[14])
	revoked, err4 := wireTime(v[15])
	var m store.Markers
	var err5, err6 error
	m.Directory, err5 = wireInt8(v[18])
	m.Credentials, err6 = wireInt8(v[19])
	if err := errors.Join(err1, err2, err3, err4, err5, err6, errs[0], errs[1], errs[2], errs[3]); err != nil {
		return store.Credential{}, store.Markers{}, errWire
	}
	c.SignCount = uint32(count)
	c.BackupEligible, c.BackupState, c.UserVerified, c.AttestationVerified = flags[0], flags[1], flags[2], flags[3]
	c.CreatedAt, c.LastUsedAt, c.RevokedAt = created, used, revoked
	return c, m, nil
}

// GetCredential returns the credential with that ID.
func (x *txn) GetCredential(ctx context.Context, id []byte) (store.Credential, error) {
	c, err := scanCredential(x.q.QueryRow(ctx, qGetCredential, id))
	return c, mapErr(credOp("get credential", id), err)
}

// ListCredentials lists the credentials of principal ("" all).
func (x *txn) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	const op = "list credentials"
	if !storable(principal) {
		return nil, nil
	}
	query, args := qListCredentials, []any{}
	if principal != "" {
		query, args = qListCredentialsOf, []any{principal}
	}
	rows, err := x.q.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanCredential)
}

// UpdateCredentialUse sets the counter, backup state and last use, if the
// stored counter is still oldCount (one conditional UPDATE: see queries.go).
func (x *txn) UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error {
	return x.updateUse(ctx, id, oldCount, newCount, backupState, at, nil)
}

// UpdateCredentialUseIf is UpdateCredentialUse if the markers are still m
// and the credential is not revoked.
func (x *txn) UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m store.Markers) error {
	return x.updateUse(ctx, id, oldCount, newCount, backupState, at, &m)
}

// updateUse is the compare-and-set of a use: of the counter, and of the
// markers when m is not nil.
func (x *txn) updateUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m *store.Markers) error {
	x.args.reset()
	x.args.int8(int64(newCount))
	x.args.bool(backupState)
	if err := x.args.time(at); err != nil {
		return fmt.Errorf("postgres: %s: %w", credOp("update credential use", id), err)
	}
	x.args.bytes(id)
	x.args.int8(int64(oldCount))
	h := hotUpdateCredentialUse
	if m != nil {
		h = hotUpdateCredentialUseIf
		x.args.int8(m.Directory)
		x.args.int8(m.Credentials)
	}
	n, err := x.run(ctx, h, nil)
	if err == nil && n == 1 {
		return nil
	}
	op := credOp("update credential use", id)
	if err != nil {
		return mapErr(op, err)
	}
	found, err := x.exists(ctx, op, qCredentialExists, id)
	switch {
	case err != nil:
		return err
	case !found:
		return notFound(op)
	}
	if m != nil {
		return fmt.Errorf("postgres: %s: stored counter is not %d, or the credential or the store changed: %w", op, oldCount, store.ErrConflict)
	}
	return fmt.Errorf("postgres: %s: stored counter is not %d: %w", op, oldCount, store.ErrConflict)
}

// RenameCredential sets the label of a credential.
func (x *txn) RenameCredential(ctx context.Context, id []byte, name string) error {
	op := credOp("rename credential", id)
	if err := checkText(op, name); err != nil {
		return err
	}
	x.noteCredentialChange()
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
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	x.noteCredentialChange()
	return x.execOne(ctx, op, qRevokeCredential, revoked, id)
}

// DeleteCredential removes a credential.
func (x *txn) DeleteCredential(ctx context.Context, id []byte) error {
	x.noteCredentialChange()
	return x.execOne(ctx, credOp("delete credential", id), qDeleteCredential, id)
}

// ---- sessions

func scanSession(r rowScanner) (store.Session, error) {
	var s store.Session
	var created, expires *int64
	err := r.Scan(&s.ID, &s.Kind, &s.Principal, &s.Data, &s.BindingKey, &created, &expires)
	s.Data, s.BindingKey = nilIfEmpty(s.Data), nilIfEmpty(s.BindingKey)
	s.CreatedAt, s.ExpiresAt = decTime(created), decTime(expires)
	return s, err
}

// CreateSession stores s; ErrExists on a duplicate ID.
func (x *txn) CreateSession(ctx context.Context, s store.Session) error {
	const op = "create session"
	if s.ID == "" {
		return errInvalid(op, "session ID")
	}
	if s.ExpiresAt.IsZero() {
		return errInvalid(op, "expiry")
	}
	if err := checkText(op, s.ID, s.Kind, s.Principal); err != nil {
		return err
	}
	ts, err := encTimes(s.CreatedAt, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	n, err := x.execCount(ctx, op, qInsertSession, s.ID, s.Kind, s.Principal, s.Data, s.BindingKey, ts[0], ts[1])
	if err == nil && n == 0 {
		err = fmt.Errorf("postgres: %s: %w", op, store.ErrExists)
	}
	return err
}

// GetSession returns the session id of kind without consuming it.
func (x *txn) GetSession(ctx context.Context, id, kind string) (store.Session, error) {
	op := "get " + kind + " session"
	if !storable(id, kind) {
		return store.Session{}, notFound(op)
	}
	s, err := scanSession(x.q.QueryRow(ctx, qGetSession, id, kind))
	if err != nil {
		return store.Session{}, mapErr(op, err)
	}
	return s, nil
}

// ConsumeSession deletes and returns the session id of kind (one DELETE ...
// RETURNING: of concurrent consumers, on any replica, one gets it).
func (x *txn) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	op := "consume " + kind + " session"
	if !storable(id, kind) {
		return store.Session{}, notFound(op)
	}
	s, err := scanSession(x.q.QueryRow(ctx, qConsumeSession, id, kind))
	if err != nil {
		return store.Session{}, mapErr(op, err)
	}
	if !now.Before(s.ExpiresAt) {
		return store.Session{}, fmt.Errorf("postgres: %s: %w at %s", op, store.ErrExpired, s.ExpiresAt.Format(time.RFC3339))
	}
	return s, nil
}

// CountSessions counts unexpired sessions of principal and kind ("" any).
func (x *txn) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	const op = "count sessions"
	if !storable(principal, kind) {
		return 0, nil
	}
	t, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("postgres: %s: %w", op, err)
	}
	var n int
	if principal == "" {
		err = x.q.QueryRow(ctx, qCountSessions, kind, t).Scan(&n)
	} else {
		err = x.q.QueryRow(ctx, qCountSessionsOf, principal, kind, t).Scan(&n)
	}
	return n, mapErr(op, err)
}

// DeleteExpiredSessions removes sessions expired at now.
func (x *txn) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	const op = "delete expired sessions"
	t, err := encTime(now)
	if err != nil {
		return 0, fmt.Errorf("postgres: %s: %w", op, err)
	}
	kept, err := encTime(now.Add(-store.ChallengeRetention))
	if err != nil {
		return 0, fmt.Errorf("postgres: delete expired challenges: %w", err)
	}
	if _, err := x.execCount(ctx, "delete expired challenges", qDeleteExpiredChallenges, kept); err != nil {
		return 0, err
	}
	return x.execCount(ctx, op, qDeleteExpiredSessions, t)
}

// ConsumeChallenge records the single use of challenge id (one INSERT ...
// ON CONFLICT DO NOTHING: of concurrent consumers, on any replica, one
// inserts; the others wait for its commit and then find the row).
func (x *txn) ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error {
	const op = "consume challenge"
	if len(id) == 0 || len(id) > 64 {
		return errInvalid(op, "challenge ID")
	}
	t, null, err := encTimeValue(expiresAt)
	if err != nil || null {
		return errInvalid(op, "expiry")
	}
	x.args.reset()
	x.args.bytes(id)
	x.args.int8(t)
	n, err := x.run(ctx, hotConsumeChallenge, nil)
	if err != nil {
		return mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrExists)
	}
	return nil
}

// ServerSecret returns the secret under name, storing candidate when none
// is (concurrent first calls on several replicas agree: the losers' inserts
// wait for the winner's commit and do nothing).
func (x *txn) ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	const op = "server secret"
	if name == "" || len(candidate) == 0 || !storable(name) {
		return nil, errInvalid(op, "name or secret")
	}
	if _, err := x.q.Exec(ctx, qInsertSecret, name, candidate, time.Now().UnixNano()); err != nil {
		return nil, mapErr(op, err)
	}
	var secret []byte
	if err := x.q.QueryRow(ctx, qGetSecret, name).Scan(&secret); err != nil {
		return nil, mapErr(op, err)
	}
	return secret, nil
}

// ---- temporary access passes

func scanTAP(r rowScanner) (store.TAP, error) {
	var t store.TAP
	var created, expires *int64
	err := r.Scan(&t.ID, &t.Principal, &t.Hash, &t.UsesLeft, &created, &expires, &t.CreatedBy)
	t.Hash = nilIfEmpty(t.Hash)
	t.CreatedAt, t.ExpiresAt = decTime(created), decTime(expires)
	return t, err
}

// CreateTAP stores t: ErrExists on a duplicate ID or hash, ErrNotFound for an
// unknown principal.
func (x *txn) CreateTAP(ctx context.Context, t store.TAP) error {
	const op = "create pass"
	switch {
	case t.ID == "":
		return errInvalid(op, "pass ID")
	case len(t.Hash) == 0:
		return errInvalid(op, "pass hash")
	case t.ExpiresAt.IsZero():
		return errInvalid(op, "expiry")
	}
	if err := checkText(op, t.ID, t.Principal, t.CreatedBy); err != nil {
		return err
	}
	ts, err := encTimes(t.CreatedAt, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	n, err := x.execCount(ctx, op, qInsertTAP, t.ID, t.Principal, t.Hash, t.UsesLeft, ts[0], ts[1], t.CreatedBy)
	if err != nil || n == 1 {
		return err
	}
	known, err := x.exists(ctx, op, qPrincipalExists, t.Principal)
	switch {
	case err != nil:
		return err
	case !known:
		return fmt.Errorf("postgres: %s: %w: principal %s", op, store.ErrNotFound, t.Principal)
	default:
		return fmt.Errorf("postgres: %s %s: %w (ID or hash)", op, t.ID, store.ErrExists)
	}
}

// UseTAP takes one use of the pass with that hash (one conditional UPDATE: of
// concurrent users, on any replica, at most UsesLeft succeed).
func (x *txn) UseTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "use pass"
	nowT, err := encTime(now)
	if err != nil {
		return store.TAP{}, fmt.Errorf("postgres: %s: %w", op, err)
	}
	t, err := scanTAP(x.q.QueryRow(ctx, qUseTAP, hash, nowT))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.TAP{}, mapErr(op, err)
	}
	// Not taken: say why.
	t, err = scanTAP(x.q.QueryRow(ctx, qGetTAPByHash, hash))
	switch {
	case err != nil:
		return store.TAP{}, mapErr(op, err)
	case !now.Before(t.ExpiresAt):
		if t.UsesLeft > 0 {
			if _, err := x.q.Exec(ctx, qExpireTAP, hash); err != nil {
				return store.TAP{}, mapErr(op, err)
			}
		}
		return store.TAP{}, fmt.Errorf("postgres: %s %s: %w at %s", op, t.ID, store.ErrExpired, t.ExpiresAt.Format(time.RFC3339))
	default:
		return store.TAP{}, fmt.Errorf("postgres: %s %s: %w", op, t.ID, store.ErrExhausted)
	}
}

// GetTAP reads the pass with that hash and says whether it could be used.
func (x *txn) GetTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "read pass"
	t, err := scanTAP(x.q.QueryRow(ctx, qGetTAPByHash, hash))
	switch {
	case err != nil:
		return store.TAP{}, mapErr(op, err)
	case !now.Before(t.ExpiresAt):
		return store.TAP{}, fmt.Errorf("postgres: %s %s: %w at %s", op, t.ID, store.ErrExpired, t.ExpiresAt.Format(time.RFC3339))
	case t.UsesLeft <= 0:
		return store.TAP{}, fmt.Errorf("postgres: %s %s: %w", op, t.ID, store.ErrExhausted)
	}
	return t, nil
}

// ListTAPs lists the passes of principal ("" all).
func (x *txn) ListTAPs(ctx context.Context, principal string) ([]store.TAP, error) {
	const op = "list passes"
	if !storable(principal) {
		return nil, nil
	}
	query, args := qListTAPs, []any{}
	if principal != "" {
		query, args = qListTAPsOf, []any{principal}
	}
	rows, err := x.q.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanTAP)
}

// DeleteTAP removes the pass with that ID.
func (x *txn) DeleteTAP(ctx context.Context, id string) error {
	op := "delete pass " + id
	if !storable(id) {
		return notFound(op)
	}
	return x.execOne(ctx, op, qDeleteTAP, id)
}

// ---- audit

func scanAudit(r rowScanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var t int64
	var kvno int64
	err := r.Scan(&a.ID, &t, &a.Event, &a.Result, &a.Reason, &a.Principal, &a.CredentialID, &kvno,
		&a.Remote, &a.Detail)
	a.Time, a.KVNO = time.Unix(0, t).UTC(), uint32(kvno)
	return a, err
}

// AppendAudit stores r and returns its new ID. Text that PostgreSQL cannot
// hold (NUL bytes, invalid UTF-8: a refused request's raw input, say) is
// stored with U+FFFD in its place rather than lose the record.
func (x *txn) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	const op = "append audit"
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	a := &x.args
	a.reset()
	if err := a.time(r.Time); err != nil {
		return 0, fmt.Errorf("postgres: %s: %w", op, err)
	}
	for _, s := range [...]string{r.Event, r.Result, r.Reason, r.Principal, r.CredentialID} {
		a.text(scrub(s))
	}
	a.int8(int64(r.KVNO))
	a.text(scrub(r.Remote))
	a.text(scrub(r.Detail))
	var id int64
	_, err := x.run(ctx, hotAppendAudit, func(v [][]byte) error {
		var err error
		id, err = wireInt8(v[0])
		return err
	})
	return id, mapErr(op, err)
}

// GetAudit returns the committed record with ID id (no horizon: one record
// by its ID is either committed or not).
func (x *txn) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	r, err := scanAudit(x.q.QueryRow(ctx, qGetAudit, id))
	if err != nil {
		return store.AuditRecord{}, mapErr("get audit record", err)
	}
	return r, nil
}

// ListAudit lists records after afterID in ID order, at most limit (<= 0:
// all). It lists only IDs up to a horizon below which every record is
// settled: the last ID drawn when the call starts, once every transaction
// then in progress has ended (it waits for them, bounded by ctx). A record
// committed later with a lower ID than one listed (appends of several
// replicas commit in any order) therefore cannot exist, and a reader paging
// with afterID misses none, without appends ever waiting for each other.
func (x *txn) ListAudit(ctx context.Context, afterID int64, limit int) ([]store.AuditRecord, error) {
	const op = "list audit"
	horizon, err := x.auditHorizon(ctx)
	if err != nil {
		return nil, mapErr(op, err)
	}
	rows, err := x.q.Query(ctx, qListAudit, afterID, limitArg(limit), horizon)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanAudit)
}

// auditHorizon is the last audit ID drawn, returned once every transaction
// that may hold an ID up to it has ended (qAuditHorizon).
func (x *txn) auditHorizon(ctx context.Context) (int64, error) {
	var horizon int64
	if err := x.q.QueryRow(ctx, qAuditHorizon).Scan(&horizon); err != nil {
		return 0, err
	}
	var mark, own string
	if err := x.pool.QueryRow(ctx, qAuditMark).Scan(&mark); err != nil {
		return 0, err
	}
	if err := x.q.QueryRow(ctx, qAuditOwn).Scan(&own); err != nil {
		return 0, err
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var settled bool
		if err := x.pool.QueryRow(ctx, qAuditSettled, mark, own).Scan(&settled); err != nil {
			return 0, err
		}
		if settled {
			return horizon, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for audit appends in progress: %w", context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}
