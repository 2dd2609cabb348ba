package postgres

import (
	"context"
	"time"

	"github.com/passkdc/passkdc/store"
)

// The standalone operations of store.Store. Those of one statement run on the
// pool directly (an implicit transaction each; this is also why an expired
// session or pass stays consumed); those of several statements that must hold
// together run in a transaction of their own. The semantics are those of store.Tx.

// UpsertPrincipal creates or replaces p.
func (s *Store) UpsertPrincipal(ctx context.Context, p store.Principal) (bool, error) {
	return inTxValue(ctx, s, func(x *txn) (bool, error) { return x.UpsertPrincipal(ctx, p) })
}

// GetPrincipal returns the principal with that anchor.
func (s *Store) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return s.direct().GetPrincipal(ctx, anchor)
}

// LockPrincipal outside a transaction is GetPrincipal.
func (s *Store) LockPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return s.GetPrincipal(ctx, anchor)
}

// GetPrincipalByName finds a principal by realm and name, case-insensitively.
func (s *Store) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	return s.direct().GetPrincipalByName(ctx, realm, name)
}

// ListPrincipals lists principals.
func (s *Store) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	return s.direct().ListPrincipals(ctx, f)
}

// MarkUnseenDeleted marks principals and groups not seen by generation gen as deleted.
func (s *Store) MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error) {
	return inTxValue(ctx, s, func(x *txn) (int, error) { return x.MarkUnseenDeleted(ctx, directory, gen) })
}

// UpsertGroup creates or replaces g.
func (s *Store) UpsertGroup(ctx context.Context, g store.Group) (bool, error) {
	return inTxValue(ctx, s, func(x *txn) (bool, error) { return x.UpsertGroup(ctx, g) })
}

// GetGroup returns the group with that anchor.
func (s *Store) GetGroup(ctx context.Context, anchor string) (store.Group, error) {
	return s.direct().GetGroup(ctx, anchor)
}

// ListGroups lists the non-deleted groups of directory.
func (s *Store) ListGroups(ctx context.Context, directory string) ([]store.Group, error) {
	return s.direct().ListGroups(ctx, directory)
}

// SetMemberships replaces the direct groups of member.
func (s *Store) SetMemberships(ctx context.Context, member string, groups []string) error {
	return s.inTx(ctx, func(x *txn) error { return x.SetMemberships(ctx, member, groups) })
}

// TransitiveGroups returns every non-deleted group member is in.
func (s *Store) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	return s.direct().TransitiveGroups(ctx, member)
}

// GetSyncState returns the sync state of directory.
func (s *Store) GetSyncState(ctx context.Context, directory string) (store.SyncState, error) {
	return s.direct().GetSyncState(ctx, directory)
}

// PutSyncState stores a sync state.
func (s *Store) PutSyncState(ctx context.Context, st store.SyncState) error {
	return s.direct().PutSyncState(ctx, st)
}

// CreateCredential stores a credential.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateCredential(ctx, c) })
}

// GetCredential returns the credential with that ID.
func (s *Store) GetCredential(ctx context.Context, id []byte) (store.Credential, error) {
	return s.direct().GetCredential(ctx, id)
}

// GetCredentialAndMarker returns a credential and the change markers, read
// in one statement.
func (s *Store) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	return s.direct().GetCredentialAndMarker(ctx, id)
}

// ChangeMarker returns the directory change marker.
func (s *Store) ChangeMarker(ctx context.Context) (int64, error) {
	return s.direct().ChangeMarker(ctx)
}

// ListCredentials lists the credentials of principal ("" all).
func (s *Store) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	return s.direct().ListCredentials(ctx, principal)
}

// UpdateCredentialUse records a use of a credential.
func (s *Store) UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error {
	return s.direct().UpdateCredentialUse(ctx, id, oldCount, newCount, backupState, at)
}

// UpdateCredentialUseIf records a use of a credential if the markers are m.
func (s *Store) UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m store.Markers) error {
	return s.direct().UpdateCredentialUseIf(ctx, id, oldCount, newCount, backupState, at, m)
}

// RenameCredential sets the label of a credential.
func (s *Store) RenameCredential(ctx context.Context, id []byte, name string) error {
	return s.inTx(ctx, func(x *txn) error { return x.RenameCredential(ctx, id, name) })
}

// RevokeCredential marks a credential revoked.
func (s *Store) RevokeCredential(ctx context.Context, id []byte, at time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.RevokeCredential(ctx, id, at) })
}

// DeleteCredential removes a credential.
func (s *Store) DeleteCredential(ctx context.Context, id []byte) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteCredential(ctx, id) })
}

// CreateSession stores a session.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	return s.direct().CreateSession(ctx, se)
}

// ConsumeSession deletes and returns a session; an expired one is deleted too.
func (s *Store) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	return s.direct().ConsumeSession(ctx, id, kind, now)
}

// GetSession reads a session without consuming it.
func (s *Store) GetSession(ctx context.Context, id, kind string) (store.Session, error) {
	return s.direct().GetSession(ctx, id, kind)
}

// CountSessions counts unexpired sessions.
func (s *Store) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	return s.direct().CountSessions(ctx, principal, kind, now)
}

// DeleteExpiredSessions removes expired sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return s.direct().DeleteExpiredSessions(ctx, now)
}

// ConsumeChallenge records the single use of a challenge.
func (s *Store) ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error {
	return s.direct().ConsumeChallenge(ctx, id, expiresAt)
}

// ServerSecret returns (storing candidate first when none is) the secret under name.
func (s *Store) ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	return s.direct().ServerSecret(ctx, name, candidate)
}

// CreateTAP stores a pass.
func (s *Store) CreateTAP(ctx context.Context, t store.TAP) error {
	return s.direct().CreateTAP(ctx, t)
}

// UseTAP takes one use of a pass; an expired pass is set to no uses left.
func (s *Store) UseTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	return s.direct().UseTAP(ctx, hash, now)
}

// GetTAP reads a pass without using it.
func (s *Store) GetTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	return s.direct().GetTAP(ctx, hash, now)
}

// ListTAPs lists passes.
func (s *Store) ListTAPs(ctx context.Context, principal string) ([]store.TAP, error) {
	return s.direct().ListTAPs(ctx, principal)
}

// DeleteTAP removes a pass.
func (s *Store) DeleteTAP(ctx context.Context, id string) error {
	return s.direct().DeleteTAP(ctx, id)
}

// AppendAudit stores an audit record.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	return s.direct().AppendAudit(ctx, r)
}

// GetAudit returns one audit record.
func (s *Store) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	return s.direct().GetAudit(ctx, id)
}

// ListAudit lists audit records.
func (s *Store) ListAudit(ctx context.Context, afterID int64, limit int) ([]store.AuditRecord, error) {
	return s.direct().ListAudit(ctx, afterID, limit)
}

// GroupMembers lists the direct members (principal and group anchors) of
// group, sorted. It lets ldapsync's incremental pass re-read the former
// members of a changed group instead of falling back to a full pass.
func (s *Store) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return s.direct().GroupMembers(ctx, group)
}

// GroupMembers lists the direct members of group, sorted.
func (x *txn) GroupMembers(ctx context.Context, group string) ([]string, error) {
	const op = "group members"
	if err := checkText(op, group); err != nil {
		return nil, err
	}
	rows, err := x.q.Query(ctx, qGroupMembers, group)
	if err != nil {
		return nil, mapErr(op, err)
	}
	return collect(rows, op, scanString)
}
