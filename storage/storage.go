package storage

import (
	"context"
	"errors"
	"time"
)

// Errors a backend returns. Callers test them with errors.Is; backends wrap them with detail.
var (
	// ErrNotFound: no record with that key (or it has expired and is treated as gone).
	ErrNotFound = errors.New("storage: not found")
	// ErrInactive: the token exists but was already used, rotated or revoked.
	ErrInactive = errors.New("storage: token inactive")
	// ErrConflict: a unique key is taken (a username, a signature, a jti seen before).
	ErrConflict = errors.New("storage: conflict")
	// ErrSchemaTooNew: the database was migrated by a newer mcp-authz than this one.
	ErrSchemaTooNew = errors.New("storage: database schema is newer than this binary")
	// ErrInvalid: a record breaks a size or form limit of the backend; nothing was written.
	ErrInvalid = errors.New("storage: invalid record")
)

// Store is everything the server keeps. A backend is safe for concurrent use.
type Store interface {
	Tokens
	Users
	Consents
	Sessions
	SigningKeys
	Records
	Elicitations

	// DeleteExpired removes codes, tokens, sessions and used jtis whose expiry is before now,
	// and elicitations more than a day past their expiry (so that a server polling for an
	// outcome still finds it), and returns how many it removed. Records never expire.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
	// Close releases the database. Pending writes are finished first.
	Close() error
}

// TokenKind names the kind of credential a [Token] record stands for.
type TokenKind string

const (
	AuthorizationCode TokenKind = "authorization_code"
	AccessToken       TokenKind = "access_token"
	RefreshToken      TokenKind = "refresh_token"
	// PKCE is the code challenge stored beside an authorization code, under the code's signature.
	PKCE TokenKind = "pkce"
)

// Request is what a code or token was issued for: one authorization grant. Every code and token of
// one grant shares the request ID, so that revoking a grant reaches all of them.
type Request struct {
	ID                string
	ClientID          string
	Subject           string
	RequestedAt       time.Time
	RequestedScopes   []string
	GrantedScopes     []string
	RequestedAudience []string
	GrantedAudience   []string
	// Form is the URL-encoded form of the original request, as far as later steps need it
	// (redirect_uri, code_challenge, resource).
	Form string
	// Session is opaque to storage: the oauth package's serialized session.
	Session []byte
}

// Token is a stored code or token. Only a hash of the credential (its signature) is stored, never
// the credential itself.
type Token struct {
	Kind      TokenKind
	Signature string
	Request   Request
	ExpiresAt time.Time
	// Active is false once a code is used, a refresh token rotated, or a token revoked.
	Active bool
	// RotatedAt is when a refresh token was rotated (zero if never); it drives the grace window.
	RotatedAt time.Time
}

// Tokens stores codes and tokens.
type Tokens interface {
	// Apply applies every change in one transaction: all of them or none. It returns the error of
	// the first change that fails (ErrNotFound, ErrInactive, ErrConflict), wrapped, and then
	// nothing is applied.
	Apply(ctx context.Context, changes ...Change) error
	// GetToken returns the token, active or not. An expired token is still returned (the caller
	// decides what expiry means); ErrNotFound if there is none.
	GetToken(ctx context.Context, kind TokenKind, signature string) (*Token, error)
}

// Change is one write inside [Tokens.Apply].
type Change interface{ change() }

// CreateToken inserts a token; ErrConflict if the signature exists.
type CreateToken struct{ Token Token }

// DeleteToken removes a token; deleting one that does not exist is not an error.
type DeleteToken struct {
	Kind      TokenKind
	Signature string
}

// DeactivateToken marks an active token inactive. ErrInactive if it already was (so that of many
// concurrent callers exactly one succeeds), ErrNotFound if there is no such token.
type DeactivateToken struct {
	Kind      TokenKind
	Signature string
}

// RotateRefreshToken marks a refresh token rotated at At. It succeeds once for an active token,
// and again for a token rotated less than Grace before At (a client retrying a refresh in
// flight). Otherwise ErrInactive; ErrNotFound if there is no such token. RotatedAt keeps the first
// rotation, so the grace window never slides. A revoked token (RevokeRequest) gets no grace, and
// with Grace 0 a token rotates once even if another instance's clock is behind.
type RotateRefreshToken struct {
	Signature string
	At        time.Time
	Grace     time.Duration
}

// RevokeRequest deactivates every token of that kind issued for the request ID (no error if none).
type RevokeRequest struct {
	Kind      TokenKind
	RequestID string
}

// UseJTI records a JWT ID (of a client assertion or an ID-JAG) until it expires; ErrConflict if it
// was recorded before and has not expired.
type UseJTI struct {
	JTI       string
	ExpiresAt time.Time
}

func (CreateToken) change()        {}
func (DeleteToken) change()        {}
func (DeactivateToken) change()    {}
func (RotateRefreshToken) change() {}
func (RevokeRequest) change()      {}
func (UseJTI) change()             {}

// User is a local account, or the local face of an upstream identity.
type User struct {
	ID       string // the token subject; stable, never reused
	Username string // unique
	// PasswordHash is a PHC-format argon2id hash; empty for users who cannot log in with a password.
	PasswordHash string
	Email        string
	Name         string
	CreatedAt    time.Time
	Disabled     bool
}

// Users stores accounts.
type Users interface {
	// CreateUser inserts a user; ErrConflict if the ID or username is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns a user by ID; ErrNotFound if none.
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByUsername returns a user by username; ErrNotFound if none.
	GetUserByUsername(ctx context.Context, username string) (*User, error)
	// UpdateUser replaces the user's mutable fields (password hash, email, name, disabled);
	// ErrNotFound if none.
	UpdateUser(ctx context.Context, u User) error
	// ListUsers returns all users ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
}

// Consent is what a user has granted one client for one resource; it lets a repeated authorization
// skip the consent page and a step-up show only the new scopes.
type Consent struct {
	Subject   string
	ClientID  string
	Resource  string
	Scopes    []string
	GrantedAt time.Time
	// ClientFingerprint identifies the client's metadata document as it was when the consent
	// was given (a Client ID Metadata Document client; "" for others). The consent counts only
	// while the document still has it.
	ClientFingerprint string
}

// Consents stores remembered consent, keyed by (subject, client, resource).
type Consents interface {
	// GetConsent returns the consent; ErrNotFound if none.
	GetConsent(ctx context.Context, subject, clientID, resource string) (*Consent, error)
	// SaveConsent inserts or replaces the consent for its key.
	SaveConsent(ctx context.Context, c Consent) error
	// DeleteClientConsents forgets every consent given to a client (its metadata changed, or it
	// was removed) and returns how many it removed.
	DeleteClientConsents(ctx context.Context, clientID string) (int64, error)
}

// BrowserSession is a server-side browser session; the cookie carries only its ID.
type BrowserSession struct {
	ID        string
	Data      []byte
	ExpiresAt time.Time
}

// Sessions stores browser sessions.
type Sessions interface {
	// SaveSession inserts or replaces a session.
	SaveSession(ctx context.Context, s BrowserSession) error
	// GetSession returns a session that has not expired; ErrNotFound otherwise.
	GetSession(ctx context.Context, id string) (*BrowserSession, error)
	// DeleteSession removes a session; removing one that does not exist is not an error.
	DeleteSession(ctx context.Context, id string) error
}

// SigningKey is a token-signing key. The private key is stored only encrypted.
type SigningKey struct {
	ID                  string // the JWS kid
	Algorithm           string // ES256
	EncryptedPrivateKey []byte
	CreatedAt           time.Time
}

// SigningKeys stores signing keys. The newest key signs; older ones stay published until every
// token they signed has expired.
type SigningKeys interface {
	// CreateSigningKey inserts a key; ErrConflict if the ID exists.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// DeleteSigningKey removes a key; removing one that does not exist is not an error.
	DeleteSigningKey(ctx context.Context, id string) error
}

// Record is a JSON document kept by kind and id: clients registered in the database (by the CLI
// or dynamic registration), trusted identity providers added by the CLI, upstream identities,
// connected third-party accounts. Storage knows nothing of the documents' schemas: the package
// that owns a kind owns its JSON.
type Record struct {
	Kind      string
	ID        string
	Data      []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Record kinds in use.
const (
	KindClient     = "client"
	KindIdP        = "idp"
	KindIdentity   = "identity"
	KindConnection = "connection"
)

// Records stores JSON documents.
type Records interface {
	// CreateRecord inserts a record; ErrConflict if (kind, id) exists.
	CreateRecord(ctx context.Context, r Record) error
	// PutRecord inserts or replaces a record; on replace CreatedAt stays as it was.
	PutRecord(ctx context.Context, r Record) error
	// GetRecord returns a record; ErrNotFound if none.
	GetRecord(ctx context.Context, kind, id string) (*Record, error)
	// ListRecords returns every record of a kind, ordered by id.
	ListRecords(ctx context.Context, kind string) ([]Record, error)
	// DeleteRecord removes a record; ErrNotFound if there was none.
	DeleteRecord(ctx context.Context, kind, id string) error
}

// Elicitation states.
const (
	ElicitationPending   = "pending"
	ElicitationAccepted  = "accepted"
	ElicitationDeclined  = "declined"
	ElicitationCancelled = "cancelled"
)

// Elicitation is a URL-mode elicitation: a page a user must complete out of band, bound at
// creation to the user and client of an MCP server's access token.
type Elicitation struct {
	ID       string // unguessable; the only thing in the page's URL
	Resource string // the MCP server that asked
	Subject  string // the user it is for
	ClientID string // the MCP client the user was using
	Kind     string
	// Request is the kind's parameters and message (JSON, the elicitation package's schema).
	Request []byte
	Status  string
	// Result is what the page produced (encrypted by the caller when sensitive).
	Result      []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
	CompletedAt time.Time
	// ResultTaken is set once the result was handed to the MCP server (results are handed once).
	ResultTaken bool
}

// Elicitations stores elicitations. Transitions are compare-and-set in the database, so that an
// elicitation completes once and its result is handed out once, whichever instance answers.
type Elicitations interface {
	// CreateElicitation inserts one; ErrConflict if the id exists.
	CreateElicitation(ctx context.Context, e Elicitation) error
	// GetElicitation returns one, expired or not; ErrNotFound if none.
	GetElicitation(ctx context.Context, id string) (*Elicitation, error)
	// CompleteElicitation moves a pending elicitation that has not expired at At to status,
	// with result. ErrInactive if it is not pending or has expired; ErrNotFound if none.
	CompleteElicitation(ctx context.Context, id, status string, result []byte, at time.Time) error
	// TakeElicitationResult returns the result of a completed elicitation and marks it taken.
	// ErrInactive if it is pending or was taken before; ErrNotFound if none.
	TakeElicitationResult(ctx context.Context, id string) (*Elicitation, error)
}
