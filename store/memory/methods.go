package memory

import (
	"context"
	"time"

	"github.com/passkdc/passkdc/store"
)

// The Store's own methods: each is a transaction of its own (see run).

// UpsertPrincipal creates or replaces a principal.
func (s *Store) UpsertPrincipal(ctx context.Context, p store.Principal) (bool, error) {
	return call(ctx, s, func(t *tx) (bool, error) { return t.UpsertPrincipal(ctx, p) })
}

// GetPrincipal returns a principal by anchor.
func (s *Store) GetPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return call(ctx, s, func(t *tx) (store.Principal, error) { return t.GetPrincipal(ctx, anchor) })
}

// LockPrincipal outside a transaction is GetPrincipal.
func (s *Store) LockPrincipal(ctx context.Context, anchor string) (store.Principal, error) {
	return s.GetPrincipal(ctx, anchor)
}

// GetPrincipalByName finds a principal by realm and name.
func (s *Store) GetPrincipalByName(ctx context.Context, realm, name string) (store.Principal, error) {
	return call(ctx, s, func(t *tx) (store.Principal, error) { return t.GetPrincipalByName(ctx, realm, name) })
}

// ListPrincipals lists principals.
func (s *Store) ListPrincipals(ctx context.Context, f store.PrincipalFilter) ([]store.Principal, error) {
	return call(ctx, s, func(t *tx) ([]store.Principal, error) { return t.ListPrincipals(ctx, f) })
}

// MarkUnseenDeleted marks principals and groups not seen by generation gen as deleted.
func (s *Store) MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error) {
	return call(ctx, s, func(t *tx) (int, error) { return t.MarkUnseenDeleted(ctx, directory, gen) })
}

// UpsertGroup creates or replaces a group.
func (s *Store) UpsertGroup(ctx context.Context, g store.Group) (bool, error) {
	return call(ctx, s, func(t *tx) (bool, error) { return t.UpsertGroup(ctx, g) })
}

// GetGroup returns a group by anchor.
func (s *Store) GetGroup(ctx context.Context, anchor string) (store.Group, error) {
	return call(ctx, s, func(t *tx) (store.Group, error) { return t.GetGroup(ctx, anchor) })
}

// ListGroups lists the non-deleted groups of a directory.
func (s *Store) ListGroups(ctx context.Context, directory string) ([]store.Group, error) {
	return call(ctx, s, func(t *tx) ([]store.Group, error) { return t.ListGroups(ctx, directory) })
}

// SetMemberships replaces the direct groups of a member.
func (s *Store) SetMemberships(ctx context.Context, member string, groups []string) error {
	return s.run(ctx, false, func(t *tx) error { return t.SetMemberships(ctx, member, groups) })
}

// TransitiveGroups returns every group a member belongs to.
func (s *Store) TransitiveGroups(ctx context.Context, member string) ([]store.Group, error) {
	return call(ctx, s, func(t *tx) ([]store.Group, error) { return t.TransitiveGroups(ctx, member) })
}

// GroupMembers lists the direct members of a group.
func (s *Store) GroupMembers(ctx context.Context, group string) ([]string, error) {
	return call(ctx, s, func(t *tx) ([]string, error) { return t.GroupMembers(ctx, group) })
}

// GetSyncState returns the sync state of a directory.
func (s *Store) GetSyncState(ctx context.Context, directory string) (store.SyncState, error) {
	return call(ctx, s, func(t *tx) (store.SyncState, error) { return t.GetSyncState(ctx, directory) })
}

// PutSyncState stores the sync state of a directory.
func (s *Store) PutSyncState(ctx context.Context, st store.SyncState) error {
	return s.run(ctx, false, func(t *tx) error { return t.PutSyncState(ctx, st) })
}

// CreateCredential stores a new credential.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential) error {
	return s.run(ctx, false, func(t *tx) error { return t.CreateCredential(ctx, c) })
}

// ChangeMarker returns the directory change marker.
func (s *Store) ChangeMarker(ctx context.Context) (int64, error) {
	return call(ctx, s, func(t *tx) (int64, error) { return t.ChangeMarker(ctx) })
}

// GetCredentialAndMarker returns a credential by ID and the change markers.
func (s *Store) GetCredentialAndMarker(ctx context.Context, id []byte) (store.Credential, store.Markers, error) {
	var m store.Markers
	c, err := call(ctx, s, func(t *tx) (store.Credential, error) {
		c, mk, err := t.GetCredentialAndMarker(ctx, id)
		m = mk
		return c, err
	})
	return c, m, err
}

// GetCredential returns a credential by ID.
func (s *Store) GetCredential(ctx context.Context, id []byte) (store.Credential, error) {
	return call(ctx, s, func(t *tx) (store.Credential, error) { return t.GetCredential(ctx, id) })
}

// ListCredentials lists credentials.
func (s *Store) ListCredentials(ctx context.Context, principal string) ([]store.Credential, error) {
	return call(ctx, s, func(t *tx) ([]store.Credential, error) { return t.ListCredentials(ctx, principal) })
}

// UpdateCredentialUse records a successful use of a credential.
func (s *Store) UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error {
	return s.run(ctx, false, func(t *tx) error {
		return t.UpdateCredentialUse(ctx, id, oldCount, newCount, backupState, at)
	})
}

// UpdateCredentialUseIf records a use if the markers are still m.
func (s *Store) UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m store.Markers) error {
	return s.run(ctx, false, func(t *tx) error {
		return t.UpdateCredentialUseIf(ctx, id, oldCount, newCount, backupState, at, m)
	})
}

// RenameCredential sets the label of a credential.
func (s *Store) RenameCredential(ctx context.Context, id []byte, name string) error {
	return s.run(ctx, false, func(t *tx) error { return t.RenameCredential(ctx, id, name) })
}

// RevokeCredential marks a credential revoked.
func (s *Store) RevokeCredential(ctx context.Context, id []byte, at time.Time) error {
	return s.run(ctx, false, func(t *tx) error { return t.RevokeCredential(ctx, id, at) })
}

// DeleteCredential removes a credential.
func (s *Store) DeleteCredential(ctx context.Context, id []byte) error {
	return s.run(ctx, false, func(t *tx) error { return t.DeleteCredential(ctx, id) })
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	return s.run(ctx, false, func(t *tx) error { return t.CreateSession(ctx, se) })
}

// ConsumeSession deletes and returns a session; an expired one is deleted
// too and ErrExpired returned.
func (s *Store) ConsumeSession(ctx context.Context, id, kind string, now time.Time) (store.Session, error) {
	return call(ctx, s, func(t *tx) (store.Session, error) { return t.ConsumeSession(ctx, id, kind, now) })
}

// GetSession reads a session without consuming it.
func (s *Store) GetSession(ctx context.Context, id, kind string) (store.Session, error) {
	return call(ctx, s, func(t *tx) (store.Session, error) { return t.GetSession(ctx, id, kind) })
}

// CountSessions counts unexpired sessions.
func (s *Store) CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error) {
	return call(ctx, s, func(t *tx) (int, error) { return t.CountSessions(ctx, principal, kind, now) })
}

// DeleteExpiredSessions removes expired sessions.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	return call(ctx, s, func(t *tx) (int, error) { return t.DeleteExpiredSessions(ctx, now) })
}

// CreateTAP stores a new pass.
func (s *Store) CreateTAP(ctx context.Context, p store.TAP) error {
	return s.run(ctx, false, func(t *tx) error { return t.CreateTAP(ctx, p) })
}

// UseTAP takes one use of a pass; an expired pass is set to no uses left and
// ErrExpired returned.
func (s *Store) UseTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	return call(ctx, s, func(t *tx) (store.TAP, error) { return t.UseTAP(ctx, hash, now) })
}

// GetTAP reads a pass without using it.
func (s *Store) GetTAP(ctx context.Context, hash []byte, now time.Time) (store.TAP, error) {
	return call(ctx, s, func(t *tx) (store.TAP, error) { return t.GetTAP(ctx, hash, now) })
}

// ListTAPs lists passes.
func (s *Store) ListTAPs(ctx context.Context, principal string) ([]store.TAP, error) {
	return call(ctx, s, func(t *tx) ([]store.TAP, error) { return t.ListTAPs(ctx, principal) })
}

// DeleteTAP removes a pass.
func (s *Store) DeleteTAP(ctx context.Context, id string) error {
	return s.run(ctx, false, func(t *tx) error { return t.DeleteTAP(ctx, id) })
}

// AppendAudit stores an audit record.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) (int64, error) {
	return call(ctx, s, func(t *tx) (int64, error) { return t.AppendAudit(ctx, r) })
}

// GetAudit returns one audit record.
func (s *Store) GetAudit(ctx context.Context, id int64) (store.AuditRecord, error) {
	return call(ctx, s, func(t *tx) (store.AuditRecord, error) { return t.GetAudit(ctx, id) })
}

// ListAudit lists audit records.
func (s *Store) ListAudit(ctx context.Context, afterID int64, limit int) ([]store.AuditRecord, error) {
	return call(ctx, s, func(t *tx) ([]store.AuditRecord, error) { return t.ListAudit(ctx, afterID, limit) })
}
