package memory

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/passkdc/passkdc/store"
)

// credOp names an operation on a credential in errors.
func credOp(op string, id []byte) string {
	return op + " " + base64.RawURLEncoding.EncodeToString(id)
}

// ofPrincipal lists the values of m, keyed by their IDs, that belong to
// principal ("" all), each through out, ordered by CreatedAt, then ID: the
// order of credentials and passes. of returns a value's principal and
// creation time.
func ofPrincipal[V any](m map[string]V, principal string, of func(V) (string, time.Time), out func(V) V) []V {
	type entry struct {
		id      string
		created time.Time
		v       V
	}
	var list []entry
	for id, v := range m {
		if owner, created := of(v); principal == "" || owner == principal {
			list = append(list, entry{id, ordered(created), v})
		}
	}
	slices.SortFunc(list, func(a, b entry) int {
		return cmp.Or(a.created.Compare(b.created), strings.Compare(a.id, b.id))
	})
	var vs []V
	for _, e := range list {
		vs = append(vs, out(e.v))
	}
	return vs
}

// ---- credentials

// copyCredential is c normalised, sharing no slice with c.
func copyCredential(c store.Credential) store.Credential {
	c.ID, c.PublicKey, c.AAGUID = cloneBytes(c.ID), cloneBytes(c.PublicKey), cloneBytes(c.AAGUID)
	c.Transports = cloneStrings(c.Transports)
	c.CreatedAt, c.LastUsedAt, c.RevokedAt = c.CreatedAt.UTC(), c.LastUsedAt.UTC(), c.RevokedAt.UTC()
	return c
}

// CreateCredential stores c: ErrExists on a duplicate ID, ErrNotFound when
// its principal is not stored.
func (t *tx) CreateCredential(ctx context.Context, c store.Credential) error {
	op := credOp("create credential", c.ID)
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	switch {
	case len(c.ID) == 0:
		return errInvalid(op, "credential ID")
	case t.hasCredential(c.ID):
		return exists(op)
	case !t.hasPrincipal(c.Principal):
		return notFound(op + ": principal " + c.Principal)
	}
	t.markCredentials()
	put(t, t.d.creds, string(c.ID), copyCredential(c))
	return nil
}

func (t *tx) hasCredential(id []byte) bool {
	_, ok := t.d.creds[string(id)]
	return ok
}

func (t *tx) hasPrincipal(anchor string) bool {
	_, ok := t.d.principals[anchor]
	return ok
}

// GetCredential returns the credential with that ID.
func (t *tx) GetCredential(ctx context.Context, id []byte) (store.Credential, error) {
	c, err := lookup(ctx, t, credOp("get credential", id), t.d.creds, string(id))
	return copyCredential(c), err
}

// GetCredentialAndMarker is GetCredential and the markers at once.
func (t *tx) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	c, err := t.GetCredential(ctx, id)
	if err != nil {
		return c, store.Markers{}, err
	}
	return c, t.markers(), nil
}

// ListCredentials lists the credentials of principal ("" all), ordered by
// CreatedAt, then ID.
func (t *tx) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	if err := t.begin(ctx, "list credentials"); err != nil {
		return nil, err
	}
	return ofPrincipal(t.d.creds, principal, func(c store.Credential) (string, time.Time) {
		return c.Principal, c.CreatedAt
	}, copyCredential), nil
}

// updateCredential applies change to the stored credential id; lifecycle
// moves the credential change marker (every change but a use).
func (t *tx) updateCredential(ctx context.Context, op string, id []byte, lifecycle bool, change func(c *store.Credential) error) error {
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	c, ok := t.d.creds[string(id)]
	if !ok {
		return notFound(op)
	}
	if err := change(&c); err != nil {
		return err
	}
	if lifecycle {
		t.markCredentials()
	}
	put(t, t.d.creds, string(id), c)
	return nil
}

// UpdateCredentialUse sets the counter, backup state and last use, if the
// stored counter is still oldCount (ErrConflict otherwise).
func (t *tx) UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error {
	return t.updateUse(ctx, id, oldCount, newCount, backupState, at, nil)
}

// UpdateCredentialUseIf is UpdateCredentialUse if the markers are still m.
func (t *tx) UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m store.Markers) error {
	return t.updateUse(ctx, id, oldCount, newCount, backupState, at, &m)
}

// updateUse is the compare-and-set of a use: of the counter, and of the
// markers when m is not nil.
func (t *tx) updateUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m *store.Markers) error {
	op := credOp("update credential use", id)
	return t.updateCredential(ctx, op, id, false, func(c *store.Credential) error {
		if c.SignCount != oldCount {
			return fmt.Errorf("memory: %s: stored counter is not %d: %w", op, oldCount, store.ErrConflict)
		}
		if m != nil && (*m != t.markers() || !c.RevokedAt.IsZero()) {
			return fmt.Errorf("memory: %s: the credential or the store changed: %w", op, store.ErrConflict)
		}
		c.SignCount, c.BackupState, c.LastUsedAt = newCount, backupState, at.UTC()
		return nil
	})
}

// RenameCredential sets the label of a credential.
func (t *tx) RenameCredential(ctx context.Context, id []byte, name string) error {
	return t.updateCredential(ctx, credOp("rename credential", id), id, true, func(c *store.Credential) error {
		c.Name = name
		return nil
	})
}

// RevokeCredential marks a credential revoked at at (the first time only).
func (t *tx) RevokeCredential(ctx context.Context, id []byte, at time.Time) error {
	op := credOp("revoke credential", id)
	if at.IsZero() {
		return errInvalid(op, "revocation time")
	}
	return t.updateCredential(ctx, op, id, true, func(c *store.Credential) error {
		if c.RevokedAt.IsZero() {
			c.RevokedAt = at.UTC()
		}
		return nil
	})
}

// DeleteCredential removes a credential.
func (t *tx) DeleteCredential(ctx context.Context, id []byte) error {
	op := credOp("delete credential", id)
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	if !remove(t, t.d.creds, string(id)) {
		return notFound(op)
	}
	t.markCredentials()
	return nil
}

// ---- sessions

// copySession is s normalised, sharing no slice with s.
func copySession(s store.Session) store.Session {
	s.Data, s.BindingKey = cloneBytes(s.Data), cloneBytes(s.BindingKey)
	s.CreatedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.ExpiresAt.UTC()
	return s
}

// CreateSession stores s; ErrExists on a duplicate ID.
func (t *tx) CreateSession(ctx context.Context, s store.Session) error {
	const op = "create session"
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	switch {
	case s.ID == "":
		return errInvalid(op, "session ID")
	case s.ExpiresAt.IsZero():
		return errInvalid(op, "expiry")
	}
	if _, dup := t.d.sessions[s.ID]; dup {
		return exists(op)
	}
	put(t, t.d.sessions, s.ID, copySession(s))
	return nil
}

// session returns the session id if it is of kind.
func (t *tx) session(id, kind string) (store.Session, bool) {
	s, ok := t.d.sessions[id]
	return s, ok && s.Kind == kind
}

// GetSession returns the session id of kind without consuming it.
func (t *tx) GetSession(ctx context.Context, id, kind string) (store.Session, error) {
	op := "get " + kind + " session"
	if err := t.begin(ctx, op); err != nil {
		return store.Session{}, err
	}
	s, ok := t.session(id, kind)
	if !ok {
		return store.Session{}, notFound(op)
	}
	return copySession(s), nil
}

// ConsumeSession deletes and returns the session id of kind; ErrExpired
// (deleted all the same) when now is not before its expiry.
func (t *tx) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	op := "consume " + kind + " session"
	if err := t.begin(ctx, op); err != nil {
		return store.Session{}, err
	}
	s, ok := t.session(id, kind)
	if !ok {
		return store.Session{}, notFound(op)
	}
	remove(t, t.d.sessions, id)
	if !now.Before(s.ExpiresAt) {
		return store.Session{}, fmt.Errorf("memory: %s: %w at %s", op, store.ErrExpired, s.ExpiresAt.Format(time.RFC3339))
	}
	return copySession(s), nil
}

// CountSessions counts the unexpired sessions of principal and kind ("" any).
func (t *tx) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	if err := t.begin(ctx, "count sessions"); err != nil {
		return 0, err
	}
	n := 0
	for _, s := range t.d.sessions {
		if (principal == "" || s.Principal == principal) && (kind == "" || s.Kind == kind) && now.Before(s.ExpiresAt) {
			n++
		}
	}
	return n, nil
}

// DeleteExpiredSessions removes the sessions expired at now, and prunes the
// consumed challenges expired at now (not counted).
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	if err := t.begin(ctx, "delete expired sessions"); err != nil {
		return 0, err
	}
	t.deleteExpiredChallenges(now)
	n := 0
	for id, s := range t.d.sessions {
		if !now.Before(s.ExpiresAt) {
			remove(t, t.d.sessions, id)
			n++
		}
	}
	return n, nil
}

// ---- temporary access passes

// copyTAP is p normalised, sharing no slice with p.
func copyTAP(p store.TAP) store.TAP {
	p.Hash = cloneBytes(p.Hash)
	p.CreatedAt, p.ExpiresAt = p.CreatedAt.UTC(), p.ExpiresAt.UTC()
	return p
}

// CreateTAP stores p: ErrExists on a duplicate ID or hash, ErrNotFound when
// its principal is not stored.
func (t *tx) CreateTAP(ctx context.Context, p store.TAP) error {
	const op = "create pass"
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	switch {
	case p.ID == "":
		return errInvalid(op, "pass ID")
	case len(p.Hash) == 0:
		return errInvalid(op, "pass hash")
	case p.ExpiresAt.IsZero():
		return errInvalid(op, "expiry")
	}
	_, dupID := t.d.taps[p.ID]
	_, dupHash := t.d.tapHashes[string(p.Hash)]
	switch {
	case dupID || dupHash:
		return exists(op + " " + p.ID)
	case !t.hasPrincipal(p.Principal):
		return notFound(op + " " + p.ID + ": principal " + p.Principal)
	}
	put(t, t.d.taps, p.ID, copyTAP(p))
	put(t, t.d.tapHashes, string(p.Hash), p.ID)
	return nil
}

// tapByHash returns the pass with that hash.
func (t *tx) tapByHash(op string, hash []byte) (store.TAP, error) {
	id, ok := t.d.tapHashes[string(hash)]
	if !ok {
		return store.TAP{}, notFound(op)
	}
	return t.d.taps[id], nil
}

// usable says why p cannot be used at now (nil: it can).
func usable(op string, p store.TAP, now time.Time) error {
	switch {
	case !now.Before(p.ExpiresAt):
		return fmt.Errorf("memory: %s %s: %w at %s", op, p.ID, store.ErrExpired, p.ExpiresAt.Format(time.RFC3339))
	case p.UsesLeft <= 0:
		return fmt.Errorf("memory: %s %s: %w", op, p.ID, store.ErrExhausted)
	}
	return nil
}

// UseTAP takes one use of the pass with that hash; an expired pass is set to
// no uses left.
func (t *tx) UseTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "use pass"
	if err := t.begin(ctx, op); err != nil {
		return store.TAP{}, err
	}
	p, err := t.tapByHash(op, hash)
	if err != nil {
		return store.TAP{}, err
	}
	if err := usable(op, p, now); err != nil {
		if !now.Before(p.ExpiresAt) && p.UsesLeft > 0 {
			p.UsesLeft = 0
			put(t, t.d.taps, p.ID, p)
		}
		return store.TAP{}, err
	}
	p.UsesLeft--
	put(t, t.d.taps, p.ID, p)
	return copyTAP(p), nil
}

// GetTAP reads the pass with that hash and says whether it could be used.
func (t *tx) GetTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	const op = "read pass"
	if err := t.begin(ctx, op); err != nil {
		return store.TAP{}, err
	}
	p, err := t.tapByHash(op, hash)
	if err != nil {
		return store.TAP{}, err
	}
	if err := usable(op, p, now); err != nil {
		return store.TAP{}, err
	}
	return copyTAP(p), nil
}

// ListTAPs lists the passes of principal ("" all), ordered by CreatedAt,
// then ID.
func (t *tx) ListTAPs(ctx context.Context, principal string) ([]store.TAP, error) {
	if err := t.begin(ctx, "list passes"); err != nil {
		return nil, err
	}
	return ofPrincipal(t.d.taps, principal, func(p store.TAP) (string, time.Time) {
		return p.Principal, p.CreatedAt
	}, copyTAP), nil
}

// DeleteTAP removes the pass with that ID.
func (t *tx) DeleteTAP(ctx context.Context, id string) error {
	op := "delete pass " + id
	if err := t.begin(ctx, op); err != nil {
		return err
	}
	p, ok := t.d.taps[id]
	if !ok {
		return notFound(op)
	}
	remove(t, t.d.taps, id)
	remove(t, t.d.tapHashes, string(p.Hash))
	return nil
}

// ---- audit

// AppendAudit stores r with a new ID. IDs are not reused: one handed out in
// a transaction that was rolled back is skipped.
func (t *tx) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	if err := t.begin(ctx, "append audit"); err != nil {
		return 0, err
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	t.s.lastAudit++
	r.ID = t.s.lastAudit
	n := len(t.d.audit)
	t.d.audit = append(t.d.audit, r)
	t.undo = append(t.undo, func() { t.d.audit = t.d.audit[:n] })
	return r.ID, nil
}

// ListAudit lists records after afterID in ID order, at most limit (<= 0: all).
func (t *tx) ListAudit(ctx context.Context, afterID int64, limit int) ([]store.AuditRecord, error) {
	if err := t.begin(ctx, "list audit"); err != nil {
		return nil, err
	}
	a := t.d.audit
	a = a[sort.Search(len(a), func(i int) bool { return a[i].ID > afterID }):]
	if limit > 0 && len(a) > limit {
		a = a[:limit]
	}
	if len(a) == 0 {
		return nil, nil
	}
	return slices.Clone(a), nil
}

// GetAudit returns the record with ID id; ErrNotFound when there is none.
func (t *tx) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	if err := t.begin(ctx, "read audit"); err != nil {
		return store.AuditRecord{}, err
	}
	a := t.d.audit
	i := sort.Search(len(a), func(i int) bool { return a[i].ID >= id })
	if i == len(a) || a[i].ID != id {
		return store.AuditRecord{}, fmt.Errorf("memory: read audit %d: %w", id, store.ErrNotFound)
	}
	return a[i], nil
}
