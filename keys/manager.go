package keys

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Algorithm is the JWS algorithm of every key this package makes: ECDSA with P-256 and SHA-256
// (RFC 7518 §3.4). It is the one asymmetric algorithm every JOSE library verifies, and its
// signatures are short.
const Algorithm = "ES256"

// DefaultReloadInterval is how often Run re-reads the store when Options.ReloadInterval is zero.
const DefaultReloadInterval = time.Minute

// ErrNoKey means there is no signing key: the store holds none, or none has been loaded yet.
var ErrNoKey = errors.New("keys: no signing key")

// Store is the part of the storage contract this package needs; storage.SigningKeys satisfies it.
type Store interface {
	// CreateSigningKey inserts a key; storage.ErrConflict if the ID exists.
	CreateSigningKey(ctx context.Context, k storage.SigningKey) error
	// ListSigningKeys returns every key, newest first.
	ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error)
	// DeleteSigningKey removes a key; removing one that does not exist is not an error.
	DeleteSigningKey(ctx context.Context, id string) error
}

// Options tune a Manager. Retention is required; the rest have defaults.
type Options struct {
	// Retention is how long a key stays published after a newer key took over signing. Set it to
	// the longest access-token lifetime plus clock skew: every token the old key signed must stay
	// verifiable until it expires.
	Retention time.Duration
	// ActivationDelay is how long a new key is published before it signs. Zero (the default)
	// makes a rotated key sign at once, which is right for one instance. When several instances
	// share a database, set it to at least ReloadInterval: then every instance publishes the new
	// key before any instance signs with it, and a resource server that fetches the JWKS from
	// another instance after seeing a new kid finds it there.
	ActivationDelay time.Duration
	// ReloadInterval is how often Run re-reads the store to pick up keys another instance rotated
	// and to delete retired keys. Default DefaultReloadInterval.
	ReloadInterval time.Duration
	// Now returns the current time; tests set it. Default time.Now.
	Now func() time.Time
	// Logger receives rotations, deletions and reload failures. Default slog.Default().
	Logger *slog.Logger
}

// Manager holds the server's signing keys: it signs tokens with the current key and publishes
// the public keys of every key whose tokens may still be in use. It is safe for concurrent use.
type Manager struct {
	store  Store
	sealer *sealer
	opts   Options
	log    *slog.Logger

	// mu serializes everything that reads the store and replaces state, so that a rotation and a
	// reload cannot interleave. Signing and verifying never take it.
	mu sync.Mutex
	// state is the loaded key set. It is replaced whole, never modified, so the token endpoint
	// reads it with one atomic load.
	state atomic.Pointer[keySet]
}

// KeyInfo describes one stored key and where it stands in its life.
type KeyInfo struct {
	ID        string // the JWS kid: the key's RFC 7638 thumbprint
	Algorithm string
	CreatedAt time.Time
	// Signing is true for the one key that signs new tokens.
	Signing bool
	// Published is true while the key is in the JWKS: it signs, is about to, or signed tokens
	// that may not have expired yet. A key that is not published is deleted by Prune.
	Published bool
	// SupersededAt is when a newer key took (or takes) over signing; zero for the newest key.
	SupersededAt time.Time
	// UnpublishAt is when the key leaves the JWKS; zero for the newest key.
	UnpublishAt time.Time
}

// keySet is one immutable view of the keys.
type keySet struct {
	infos     []KeyInfo              // every stored key, newest first
	current   *signingKey            // nil when there are no keys
	published []*signingKey          // newest first
	byID      map[string]*signingKey // published keys by kid
	jwks      []byte
}

// NewManager returns a Manager for the keys in store, encrypted under secret. secret is the
// operator's key-encryption secret: at least MinSecretLength random bytes, the same on every
// instance. Call EnsureKey (or Load) before signing.
func NewManager(store Store, secret []byte, opts Options) (*Manager, error) {
	if store == nil {
		return nil, errors.New("keys: no store")
	}
	s, err := newSealer(secret)
	if err != nil {
		return nil, err
	}
	if opts.Retention <= 0 {
		return nil, errors.New("keys: Options.Retention must be positive: the longest access-token lifetime plus clock skew")
	}
	if opts.ActivationDelay < 0 {
		return nil, errors.New("keys: Options.ActivationDelay must not be negative")
	}
	if opts.ReloadInterval <= 0 {
		opts.ReloadInterval = DefaultReloadInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Manager{store: store, sealer: s, opts: opts, log: log.With("component", "keys")}, nil
}

// Load reads and decrypts the keys in the store. It returns ErrNoKey if the store holds none,
// and an error wrapping ErrDecrypt if the secret does not open them.
func (m *Manager) Load(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.refresh(ctx, false)
	return err
}

// EnsureKey loads the keys, first generating and storing one if the store holds none (the first
// start of a new installation). created reports whether it generated one.
func (m *Manager) EnsureKey(ctx context.Context) (created bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.refresh(ctx, false); err == nil {
		return false, nil
	} else if !errors.Is(err, ErrNoKey) {
		return false, err
	}
	// Two instances starting on an empty database may both get here and store a key each. That
	// is harmless: both keys are published, and every instance signs with the same one of them
	// once it has reloaded.
	kid, err := m.create(ctx, m.opts.Now())
	if err != nil {
		return false, err
	}
	m.log.InfoContext(ctx, "generated the first signing key", "kid", kid)
	if _, err := m.refresh(ctx, false); err != nil {
		return true, fmt.Errorf("keys: load the signing key %s just stored: %w", kid, err)
	}
	return true, nil
}

// Rotate generates a new key and stores it. With no ActivationDelay the new key signs at once;
// the keys it supersedes stay published for Retention (plus ReloadInterval, see Prune) so that
// the tokens they signed still verify. Other instances switch to it when they next reload.
func (m *Manager) Rotate(ctx context.Context) (kid string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Read the store first, so that the new key is dated after the newest key any instance made.
	if _, err := m.refresh(ctx, false); err != nil && !errors.Is(err, ErrNoKey) {
		return "", err
	}
	prev := m.state.Load()
	at := m.opts.Now()
	if len(prev.infos) > 0 {
		// The newest key signs, and "newest" is decided by CreatedAt. A clock that is behind
		// another instance's, or a test clock that stands still, must not make the new key older
		// or leave it tied. A millisecond apart at least, so that the order survives a store that
		// keeps times to the millisecond (SQLite and PostgreSQL keep microseconds).
		if first := prev.infos[0].CreatedAt.Add(time.Millisecond); at.Before(first) {
			at = first
		}
	}
	kid, err = m.create(ctx, at)
	if err != nil {
		return "", err
	}
	if _, err := m.refresh(ctx, false); err != nil {
		return kid, err
	}
	var old string
	if prev.current != nil {
		old = prev.current.id
	}
	m.log.InfoContext(ctx, "rotated the signing key", "kid", kid, "previous", old,
		"signing", m.CurrentKeyID(), "previous_unpublished_after", m.opts.Retention+m.opts.ReloadInterval)
	return kid, nil
}

// Reload re-reads the store, to pick up a key another instance rotated in. It keeps the loaded
// keys if the store cannot be read or has lost every key.
func (m *Manager) Reload(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.refresh(ctx, false)
	return err
}

// Prune re-reads the store and deletes the keys that are no longer published, returning their
// kids. A superseded key is kept for Retention plus ReloadInterval: another instance may sign with
// it for up to ReloadInterval after the rotation, until it reloads. The signing key, and any
// newer key, is never deleted.
func (m *Manager) Prune(ctx context.Context) (deleted []string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refresh(ctx, true)
}

// Run reloads and prunes every ReloadInterval until ctx ends. Failures are logged, and the keys
// already loaded stay in use.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.Prune(ctx); err != nil && ctx.Err() == nil {
			m.log.ErrorContext(ctx, "cannot reload signing keys; keeping the loaded ones", "err", err)
		}
	}
}

// Keys describes every stored key as of the last load, newest first.
func (m *Manager) Keys() []KeyInfo {
	s := m.state.Load()
	if s == nil {
		return nil
	}
	return slices.Clone(s.infos)
}

// CurrentKeyID returns the kid of the key that signs, or "" if none is loaded.
func (m *Manager) CurrentKeyID() string {
	s := m.state.Load()
	if s == nil || s.current == nil {
		return ""
	}
	return s.current.id
}

// PublicKey returns the public key of a published key.
func (m *Manager) PublicKey(kid string) (*ecdsa.PublicKey, bool) {
	s := m.state.Load()
	if s == nil {
		return nil, false
	}
	k, ok := s.byID[kid]
	if !ok {
		return nil, false
	}
	return &k.priv.PublicKey, true
}

// JWKS returns the published public keys as a JSON Web Key Set (RFC 7517 §5), newest first. The
// document is built when the published keys change, not on every call.
func (m *Manager) JWKS() []byte {
	s := m.state.Load()
	if s == nil {
		return []byte(`{"keys":[]}`)
	}
	// A copy, so that no caller can corrupt what every other caller is served.
	return slices.Clone(s.jwks)
}

// create generates a key dated at and stores it encrypted.
func (m *Manager) create(ctx context.Context, at time.Time) (string, error) {
	priv, kid, err := newKey()
	if err != nil {
		return "", err
	}
	sealed, err := m.sealer.seal(kid, priv)
	if err != nil {
		return "", err
	}
	rec := storage.SigningKey{ID: kid, Algorithm: Algorithm, EncryptedPrivateKey: sealed, CreatedAt: at.UTC()}
	if err := m.store.CreateSigningKey(ctx, rec); err != nil {
		return "", fmt.Errorf("keys: store signing key %s: %w", kid, err)
	}
	return kid, nil
}

// refresh reads the store and replaces the loaded key set; with prune it first deletes the keys
// that are no longer published. m.mu must be held.
func (m *Manager) refresh(ctx context.Context, prune bool) (deleted []string, err error) {
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list signing keys: %w", err)
	}
	// The store lists newest first already; sorting again with a tie-break on the kid makes
	// every instance pick the same signing key even if two keys carry the same time.
	slices.SortStableFunc(recs, func(a, b storage.SigningKey) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	infos := schedule(recs, m.opts.Now(), m.opts)

	if prune {
		// Unpublished keys are always the oldest ones, so what is kept is a prefix.
		n := len(infos)
		for n > 0 && !infos[n-1].Published {
			n--
		}
		for _, in := range infos[n:] {
			if err := m.store.DeleteSigningKey(ctx, in.ID); err != nil {
				return deleted, fmt.Errorf("keys: delete retired signing key %s: %w", in.ID, err)
			}
			deleted = append(deleted, in.ID)
			m.log.InfoContext(ctx, "deleted a retired signing key", "kid", in.ID,
				"superseded_at", in.SupersededAt, "unpublished_at", in.UnpublishAt)
		}
		recs, infos = recs[:n], infos[:n]
	}

	old := m.state.Load()
	if len(recs) == 0 && old != nil && old.current != nil {
		// Signing with nothing would fail every token request; keep what works and say so.
		return deleted, fmt.Errorf("keys: the store lists no signing keys; keeping the %d loaded", len(old.published))
	}
	next, err := m.build(old, recs, infos)
	if err != nil {
		return deleted, err
	}
	if old != nil && old.current != nil && next.current != nil && old.current.id != next.current.id {
		m.log.InfoContext(ctx, "signing key changed", "kid", next.current.id, "previous", old.current.id)
	}
	m.state.Store(next)
	if next.current == nil {
		return deleted, ErrNoKey
	}
	return deleted, nil
}

// build makes a key set from the stored records, decrypting the published keys that old does not
// hold already.
func (m *Manager) build(old *keySet, recs []storage.SigningKey, infos []KeyInfo) (*keySet, error) {
	next := &keySet{infos: infos, byID: make(map[string]*signingKey, len(recs))}
	for i, r := range recs {
		if !infos[i].Published {
			// Never used again, so never decrypted: an old key must not stop a start.
			continue
		}
		k := old.lookup(r.ID)
		if k == nil {
			if r.Algorithm != Algorithm {
				return nil, fmt.Errorf("keys: signing key %s uses %q; this version supports only %s",
					r.ID, r.Algorithm, Algorithm)
			}
			priv, err := m.sealer.open(r.ID, r.EncryptedPrivateKey)
			if err != nil {
				return nil, err
			}
			if k, err = newSigningKey(r.ID, priv); err != nil {
				return nil, err
			}
		}
		next.published = append(next.published, k)
		next.byID[k.id] = k
		if infos[i].Signing {
			next.current = k
		}
	}
	if old != nil && slices.Equal(old.published, next.published) {
		next.jwks = old.jwks
		return next, nil
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(next.published))}
	for _, k := range next.published {
		set.Keys = append(set.Keys, k.jwk)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	next.jwks = b
	return next, nil
}

func (s *keySet) lookup(kid string) *signingKey {
	if s == nil {
		return nil
	}
	return s.byID[kid]
}

// schedule works out, for keys sorted newest first, which one signs and how long each stays
// published.
//
// A key may sign from CreatedAt+ActivationDelay (at once without a delay); the signing key is the
// newest key that may sign, or the oldest key when none may yet (a new installation, or two instances racing to create the
// first key). A key is superseded when the next newer key may sign, and leaves the JWKS Retention
// plus ReloadInterval after that: Retention covers the tokens it signed, ReloadInterval the tokens
// an instance that has not reloaded yet still signs with it.
func schedule(recs []storage.SigningKey, now time.Time, o Options) []KeyInfo {
	cur := len(recs) - 1
	for i, r := range recs {
		// With no delay the newest key signs even if it is dated a little ahead: by another
		// instance's clock, or by Rotate keeping it newer than the key before.
		if o.ActivationDelay == 0 || !r.CreatedAt.Add(o.ActivationDelay).After(now) {
			cur = i
			break
		}
	}
	infos := make([]KeyInfo, len(recs))
	for i, r := range recs {
		in := KeyInfo{ID: r.ID, Algorithm: r.Algorithm, CreatedAt: r.CreatedAt, Signing: i == cur}
		if i > 0 {
			in.SupersededAt = recs[i-1].CreatedAt.Add(o.ActivationDelay)
			in.UnpublishAt = in.SupersededAt.Add(o.Retention + o.ReloadInterval)
		}
		in.Published = i <= cur || now.Before(in.UnpublishAt)
		infos[i] = in
	}
	return infos
}
