// Package store keeps passkdc's state: principals and groups mirrored from the
// directory, passkey credentials, ceremony sessions, temporary access passes and
// the audit trail.
//
// Backends implement Store. Every backend must pass the conformance suite in
// store/conformance (the dex pattern): SQLite (embedded, the default) and, for
// several replicas, PostgreSQL. The store holds data, never policy: it does not
// decide who may sign in.
//
// Conventions every backend follows (the conformance suite checks them):
//   - Times are returned in UTC with nanosecond precision; a zero time.Time means
//     "never" / "unset" and round-trips as zero.
//   - Empty byte slices and string slices are returned as nil.
//   - A session or pass is valid while now is strictly before its ExpiresAt.
//   - Lists have a stable order (given on each method).
//   - Errors callers branch on wrap the sentinels below; test them with errors.Is.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Errors callers branch on. Backends wrap them with context (%w).
var (
	// ErrNotFound: no such object (or, for sessions and passes, already consumed).
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with the same key exists.
	ErrExists = errors.New("already exists")
	// ErrExpired: a session or pass exists but has expired; it is consumed anyway.
	ErrExpired = errors.New("expired")
	// ErrExhausted: a temporary access pass has no uses left.
	ErrExhausted = errors.New("no uses left")
	// ErrConflict: an optimistic update lost a race (e.g. a sign counter moved).
	ErrConflict = errors.New("conflict")
)

// Markers are the store's two change markers as one read saw them. Each is
// a number that the transactions it covers make greater, on every handle and
// replica of the store, and that nothing else changes: while both are equal,
// what the store answers about principals, groups, memberships and
// credentials is the same but for credential uses (UpdateCredentialUse).
type Markers struct {
	// Directory is ChangeMarker: moved by every write of principals, groups
	// or memberships.
	Directory int64
	// Credentials is moved by every write of a credential but a use:
	// CreateCredential, RenameCredential, RevokeCredential, DeleteCredential
	// (whether or not they changed anything).
	Credentials int64
}

// ChallengeRetention is how long past its expiry a consumed challenge is
// kept: a replica whose clock is behind the pruning one's by less than this
// still finds the challenge used.
const ChallengeRetention = 10 * time.Minute

// Principal is a user mirrored from the directory. Anchor is the immutable
// directory identifier (AD objectGUID, OpenLDAP entryUUID) in canonical lower-case
// UUID form; it is also the WebAuthn user handle.
type Principal struct {
	Anchor      string
	Directory   string // which configured directory it came from ("default")
	Name        string // sAMAccountName / uid: the Kerberos principal name
	Realm       string
	UPN         string
	SID         string // user SID (AD objectSid, or sambaSID); empty when unknown
	DN          string
	DisplayName string
	Enabled     bool
	Deleted     bool      // gone from the directory (kept for audit and credential revocation)
	Expires     time.Time // account expiry; zero = never
	ChangeMark  string    // uSNChanged / entryCSN / modifyTimestamp at last sync
	SyncedAt    time.Time // when this principal was last read from the directory
	Generation  int64     // sync generation that last saw it (used to detect deletions)
}

// Group is a directory group, kept for the replication-policy check.
type Group struct {
	Anchor     string
	Directory  string
	Name       string
	DN         string
	SID        string
	Deleted    bool
	ChangeMark string
	SyncedAt   time.Time
	Generation int64
}

// Membership is one edge of the group graph: Member (a principal or group anchor)
// is a direct member of Group (a group anchor).
type Membership struct {
	Group  string
	Member string
}

// SyncState is the per-directory watermark of incremental sync.
type SyncState struct {
	Directory    string
	HighWater    string // AD: highest uSNChanged seen; OpenLDAP: syncrepl cookie or newest CSN
	InvocationID string // AD DC invocationId the high-water mark belongs to
	Generation   int64  // generation of the last full pass
	LastFull     time.Time
	LastSync     time.Time
}

// Credential is a registered passkey.
type Credential struct {
	ID              []byte // WebAuthn credential ID
	Principal       string // principal anchor (user handle)
	Name            string // user-chosen label
	PublicKey       []byte // COSE key
	AttestationType string
	AttestationFmt  string
	AAGUID          []byte
	Transports      []string
	SignCount       uint32
	BackupEligible  bool
	BackupState     bool
	UserVerified    bool
	Profile         string // passkey profile it was registered under
	// AttestationVerified is true when the registration's attestation was
	// verified against FIDO metadata (the AAGUID is then the model's, not
	// a claim); AttestationStatement names the metadata statement it was
	// verified against (description and blob number).
	AttestationVerified  bool
	AttestationStatement string
	CreatedAt            time.Time
	LastUsedAt           time.Time // zero: never used
	RevokedAt            time.Time // zero: active
}

// AccountProblem is why a principal's account may not be used now ("":
// it may). Its values are the stable refusal codes of the API.
type AccountProblem string

// The account problems, in the order Problem checks them.
const (
	AccountDeleted  AccountProblem = "principal_deleted"  // gone from the directory
	AccountDisabled AccountProblem = "principal_disabled" // disabled in the directory
	AccountExpired  AccountProblem = "principal_expired"  // its expiry has passed
)

// Problem is the one account-state rule of passkdc: a deleted account, a
// disabled one, and one whose expiry is at or before now may not register,
// sign in or get a ticket.
func (p Principal) Problem(now time.Time) AccountProblem {
	switch {
	case p.Deleted:
		return AccountDeleted
	case !p.Enabled:
		return AccountDisabled
	case !p.Expires.IsZero() && !now.Before(p.Expires):
		return AccountExpired
	}
	return ""
}

// Describe is the problem as a sentence about p.
func (a AccountProblem) Describe(p Principal) string {
	switch a {
	case AccountDeleted:
		return fmt.Sprintf("the account %s no longer exists in the directory", p.Name)
	case AccountDisabled:
		return fmt.Sprintf("the account %s is disabled", p.Name)
	case AccountExpired:
		return fmt.Sprintf("the account %s expired at %s", p.Name, p.Expires.UTC().Format(time.RFC3339))
	}
	return ""
}

// Session is a server-side ceremony session (WebAuthn registration or sign-in,
// browser code redemption). Sessions are single use: Consume deletes them.
type Session struct {
	ID         string
	Kind       string // "register", "login", "page", "code", ...
	Principal  string // anchor, empty for discoverable sign-in
	Data       []byte // opaque ceremony state (e.g. go-webauthn SessionData as JSON)
	BindingKey []byte // client's ephemeral X25519 public key for sign-in
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// TAP is a temporary access pass. Only a hash of the pass is stored.
type TAP struct {
	ID        string
	Principal string // anchor
	Hash      []byte // SHA-256 of the pass
	UsesLeft  int
	CreatedAt time.Time
	ExpiresAt time.Time
	CreatedBy string
}

// AuditRecord is one decision: an issuance, a refusal, an administrative change.
type AuditRecord struct {
	ID           int64 // assigned by the store
	Time         time.Time
	Event        string // "login", "register", "tap.issue", "cred.revoke", "sync", ...
	Result       string // "ok", "refused", "error"
	Reason       string // stable error code when refused
	Principal    string
	CredentialID string // base64url
	KVNO         uint32
	Remote       string
	Detail       string // human text
}

// PrincipalFilter selects principals for listing.
type PrincipalFilter struct {
	Directory      string // empty: all
	IncludeDeleted bool
	Limit          int    // 0: no limit
	After          string // name to page after (strictly greater names)
	// AfterAnchor, when set, makes paging exact on (Name, Anchor): the listing
	// resumes after the principal (After, AfterAnchor), so principals sharing a
	// name (other directory, deleted and re-created) are not skipped at a page
	// boundary. Pass the Name and Anchor of the last principal of the page.
	AfterAnchor string
}

// Tx is every operation of the store; inside Store.WithTx they run in one transaction.
type Tx interface {
	// Directory mirror.

	// UpsertPrincipal creates or replaces the principal with p.Anchor. It reports
	// changed when the principal is new or any field other than SyncedAt and
	// Generation differs (times compared as instants); SyncedAt and Generation
	// are stored either way.
	UpsertPrincipal(ctx context.Context, p Principal) (changed bool, err error)
	GetPrincipal(ctx context.Context, anchor string) (Principal, error)
	// LockPrincipal is GetPrincipal that, inside WithTx, also makes any other
	// transaction's LockPrincipal of the same anchor wait until this one ends,
	// on every replica of a shared store: a check-then-write on one
	// principal's credentials (Kerberos enrolment's "no passkey yet") then
	// runs one at a time. Outside WithTx it is GetPrincipal.
	LockPrincipal(ctx context.Context, anchor string) (Principal, error)
	// GetPrincipalByName finds a principal by realm and name, both compared
	// case-insensitively. When several match (a deleted account re-created under
	// the same name), a non-deleted one wins, then the most recently synced.
	GetPrincipalByName(ctx context.Context, realm, name string) (Principal, error)
	// ListPrincipals lists principals ordered by Name, then Anchor.
	ListPrincipals(ctx context.Context, f PrincipalFilter) ([]Principal, error)
	// MarkUnseenDeleted marks as deleted every principal and group of the directory
	// whose Generation is lower than gen, and returns how many principals it marked
	// (principals already deleted are not counted again).
	MarkUnseenDeleted(ctx context.Context, directory string, gen int64) (int, error)
	// UpsertGroup is UpsertPrincipal for groups.
	UpsertGroup(ctx context.Context, g Group) (changed bool, err error)
	GetGroup(ctx context.Context, anchor string) (Group, error)
	// ListGroups lists the non-deleted groups of directory ("" all directories),
	// ordered by Name, then Anchor.
	ListGroups(ctx context.Context, directory string) ([]Group, error)
	// SetMemberships replaces the direct groups of member with groups (anchors;
	// duplicates ignored). A group need not be stored yet.
	SetMemberships(ctx context.Context, member string, groups []string) error
	// TransitiveGroups returns every group member belongs to, directly or through
	// nested groups, ordered by Name, then Anchor; cycles are safe (a group in a
	// cycle is listed among its own groups). Only stored, non-deleted groups are
	// listed or followed: nesting through a deleted or unknown group does not count.
	TransitiveGroups(ctx context.Context, member string) ([]Group, error)
	// GroupMembers lists the direct members (principal and group anchors) of
	// group, sorted: the incremental sync re-reads the former members of a
	// changed group with it (a member removed from a group is not itself
	// changed in the directory).
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// GetSyncState returns the state of directory; when none was stored it returns
	// a zero state (only Directory set) and a nil error.
	GetSyncState(ctx context.Context, directory string) (SyncState, error)
	// PutSyncState creates or replaces the state of s.Directory.
	PutSyncState(ctx context.Context, s SyncState) error
	// ChangeMarker returns the directory change marker: a number that every
	// committed transaction writing principals, groups or memberships
	// (UpsertPrincipal, UpsertGroup, SetMemberships, MarkUnseenDeleted;
	// whether or not they changed anything) makes greater, on every handle and
	// replica of the store, and that nothing else changes. While it is equal,
	// GetPrincipal and TransitiveGroups answer as they did: a copy of their
	// answers read after the marker was m is current as long as the marker is
	// m. A new store's marker is 0. Inside WithTx, whether the transaction's
	// own writes have moved it yet is not specified (they have once it commits).
	ChangeMarker(ctx context.Context) (int64, error)

	// Credentials.

	// CreateCredential stores a new credential: ErrExists on duplicate ID,
	// ErrNotFound when c.Principal is not a stored principal.
	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, id []byte) (Credential, error)
	// GetCredentialAndMarker is GetCredential and the store's two markers in
	// one read (one statement, one snapshot): the markers are what they were
	// when the credential was read (zero with an error).
	GetCredentialAndMarker(ctx context.Context, id []byte) (Credential, Markers, error)
	// ListCredentials lists the credentials of principal ("" lists all), revoked
	// ones included, ordered by CreatedAt, then ID.
	ListCredentials(ctx context.Context, principal string) ([]Credential, error)
	// UpdateCredentialUse records a successful use: new counter, backup state and time.
	// It fails with ErrConflict when the stored counter is not oldCount (a concurrent use),
	// ErrNotFound when there is no such credential.
	UpdateCredentialUse(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time) error
	// UpdateCredentialUseIf is UpdateCredentialUse that also requires the
	// store's markers to be m and the credential unrevoked, as one
	// statement: ErrConflict when the counter is not oldCount, the credential
	// is revoked or either marker moved since m was read (a use decided on a
	// copy of the credential and of the directory read at m is recorded only
	// if neither changed since), ErrNotFound when there is no such credential.
	UpdateCredentialUseIf(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, at time.Time, m Markers) error
	// RenameCredential sets the label; ErrNotFound when there is no such credential.
	RenameCredential(ctx context.Context, id []byte, name string) error
	// RevokeCredential sets RevokedAt (an already revoked credential keeps its
	// first revocation time); ErrNotFound when there is no such credential.
	RevokeCredential(ctx context.Context, id []byte, at time.Time) error
	// DeleteCredential removes the credential; ErrNotFound when there is none.
	DeleteCredential(ctx context.Context, id []byte) error

	// Sessions.

	// CreateSession stores a new session; ErrExists on duplicate ID.
	CreateSession(ctx context.Context, s Session) error
	// ConsumeSession deletes and returns the session of that kind; ErrNotFound when
	// missing, already used or of another kind (which is left in place), ErrExpired
	// (session still deleted) when now is not before ExpiresAt. Inside WithTx the
	// deletion is undone with the rest if fn fails.
	ConsumeSession(ctx context.Context, id, kind string, now time.Time) (Session, error)
	// GetSession returns the session of that kind without consuming it (a
	// sign-in verifies against it first, then consumes it together with the
	// decision's other writes); ErrNotFound when missing or of another kind. It
	// does not check expiry: ConsumeSession does.
	GetSession(ctx context.Context, id, kind string) (Session, error)
	// CountSessions counts unexpired sessions of principal and kind ("" matches any).
	CountSessions(ctx context.Context, principal, kind string, now time.Time) (int, error)
	// DeleteExpiredSessions removes every session expired at now and returns how
	// many; it also prunes the consumed challenges expired ChallengeRetention
	// before now (not counted).
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)

	// Stateless sign-in challenges.

	// ConsumeChallenge records the single use of a self-authenticating
	// challenge (id: its random part, at most 64 bytes): ErrExists when id was
	// consumed before, on any replica. The row is kept until expiresAt
	// (DeleteExpiredSessions prunes it after); inside WithTx the use is undone
	// with the rest if fn fails, and a refused second use leaves the
	// transaction usable (the refusal's audit record follows in it).
	ConsumeChallenge(ctx context.Context, id []byte, expiresAt time.Time) error
	// ServerSecret returns the secret stored under name, storing candidate
	// first when there is none: every replica of one store gets the same
	// secret, the first to ask choosing it. Secrets are never listed.
	ServerSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)

	// Temporary access passes.

	// CreateTAP stores a new pass: ErrExists on duplicate ID or hash, ErrNotFound
	// when t.Principal is not a stored principal.
	CreateTAP(ctx context.Context, t TAP) error
	// UseTAP finds the pass by hash, checks expiry and uses, and decrements UsesLeft;
	// it returns the pass as updated. ErrNotFound for an unknown hash, ErrExhausted
	// when no uses are left, ErrExpired when now is not before ExpiresAt (the pass
	// is then set to no uses left). An exhausted pass is kept for listing.
	UseTAP(ctx context.Context, hash []byte, now time.Time) (TAP, error)
	// GetTAP finds the pass by hash without using it: it returns what UseTAP
	// would refuse with (ErrNotFound, ErrExhausted, ErrExpired) and writes
	// nothing, so that a ceremony can check a pass at its start and spend it
	// only when it succeeds.
	GetTAP(ctx context.Context, hash []byte, now time.Time) (TAP, error)
	// ListTAPs lists the passes of principal ("" lists all), ordered by CreatedAt, then ID.
	ListTAPs(ctx context.Context, principal string) ([]TAP, error)
	// DeleteTAP removes a pass (revocation); ErrNotFound when there is none.
	DeleteTAP(ctx context.Context, id string) error

	// Audit.

	// AppendAudit stores r with a new ID, greater than every ID before it, and
	// returns that ID. A zero r.Time is set to the current time.
	AppendAudit(ctx context.Context, r AuditRecord) (int64, error)
	// ListAudit returns records with ID > afterID in increasing ID order, at most
	// limit of them (limit <= 0: all). A reader paging with it misses no record,
	// also when appends of several replicas commit out of ID order (a backend
	// may wait for appends in progress).
	ListAudit(ctx context.Context, afterID int64, limit int) ([]AuditRecord, error)
	// GetAudit returns the committed record with ID id (ErrNotFound when there
	// is none), without waiting for appends in progress.
	GetAudit(ctx context.Context, id int64) (AuditRecord, error)
}

// Store is a backend. Methods of the embedded Tx run each in their own transaction.
type Store interface {
	Tx
	// WithTx runs fn in one transaction: committed when fn returns nil, rolled back
	// otherwise (fn's error is returned as is). Inside fn use only tx: calling the
	// Store's own methods from fn may deadlock (the SQLite backend has one writer).
	WithTx(ctx context.Context, fn func(tx Tx) error) error
	// NextGeneration allocates a new sync generation for a full pass of directory:
	// greater than every generation allocated for that directory before.
	NextGeneration(ctx context.Context, directory string) (int64, error)
	Ping(ctx context.Context) error
	Close() error
}
