package consent

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"golang.org/x/crypto/hkdf"

	"github.com/mcp-authz/mcp-authz/storage"
)

// Session value keys. Values are strings only, stored as JSON.
const (
	keyUserID   = "uid"
	keyAuthTime = "auth_time"
	keyCSRF     = "csrf"
	// keyUpstream is the id of the provider the user signed in through (none for a local
	// account), keyUpstreamClaims the claim values its policy reads (JSON), and keyFlows the
	// sign-ins under way at providers (JSON).
	keyUpstream       = "upstream"
	keyUpstreamClaims = "upstream_claims"
	keyFlows          = "upstream_flows"
)

// sessionStore is a gorilla/sessions Store whose sessions live in storage; the cookie carries the
// session id, authenticated (HMAC) by securecookie so that a forged or truncated cookie is
// dismissed before it costs a database read.
type sessionStore struct {
	db       storage.Sessions
	codecs   []securecookie.Codec
	options  sessions.Options
	lifetime time.Duration
	now      func() time.Time
}

var _ sessions.Store = (*sessionStore)(nil)

func newSessionStore(db storage.Sessions, secret []byte, secure bool, lifetime time.Duration, now func() time.Time) *sessionStore {
	hashKey := make([]byte, 32)
	_, _ = io.ReadFull(hkdf.New(sha256.New, secret, nil, []byte("mcp-authz session cookie v1")), hashKey)
	codec := securecookie.New(hashKey, nil)
	codec.MaxAge(int(lifetime.Seconds()))
	return &sessionStore{
		db:     db,
		codecs: []securecookie.Codec{codec},
		options: sessions.Options{
			Path:     "/", // required by the __Host- prefix
			MaxAge:   int(lifetime.Seconds()),
			Secure:   secure,
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		lifetime: lifetime,
		now:      now,
	}
}

// cookieName is the session cookie's name: with the __Host- prefix over https, so that no
// subdomain can set or shadow it (RFC 6265bis §4.1.3.2); browsers accept the prefix only on
// Secure cookies, so plain-http development uses the bare name.
func cookieName(secure bool) string {
	if secure {
		return "__Host-mcp-authz-session"
	}
	return "mcp-authz-session"
}

func (s *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the request's cookie, or starts an empty one. A cookie that
// does not verify, or names a session that expired or was deleted, gives an empty session, not
// an error: to the user it is simply "not signed in".
func (s *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	opts := s.options
	sess.Options = &opts
	sess.IsNew = true
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	var id string
	if err := securecookie.DecodeMulti(name, c.Value, &id, s.codecs...); err != nil {
		return sess, nil
	}
	rec, err := s.db.GetSession(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, fmt.Errorf("consent: load session: %w", err)
	}
	var values map[string]string
	if err := json.Unmarshal(rec.Data, &values); err != nil {
		return sess, nil
	}
	for k, v := range values {
		sess.Values[k] = v
	}
	sess.ID = id
	sess.IsNew = false
	return sess, nil
}

// Save writes the session and its cookie; MaxAge < 0 deletes both.
func (s *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if sess.ID != "" {
			if err := s.db.DeleteSession(r.Context(), sess.ID); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID == "" {
		sess.ID = randomToken()
	}
	values := map[string]string{}
	for k, v := range sess.Values {
		ks, ok1 := k.(string)
		vs, ok2 := v.(string)
		if !ok1 || !ok2 {
			return fmt.Errorf("consent: session value %v is not a string", k)
		}
		values[ks] = vs
	}
	data, err := json.Marshal(values)
	if err != nil {
		return err
	}
	if err := s.db.SaveSession(r.Context(), storage.BrowserSession{ID: sess.ID, Data: data, ExpiresAt: s.now().Add(s.lifetime)}); err != nil {
		return fmt.Errorf("consent: save session: %w", err)
	}
	encoded, err := securecookie.EncodeMulti(sess.Name(), sess.ID, s.codecs...)
	if err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), encoded, sess.Options))
	return nil
}

// renew gives the session a fresh id (and forgets the old record): done at login, so that a
// session id planted before login is worth nothing after it (session fixation).
func (s *sessionStore) renew(r *http.Request, sess *sessions.Session) error {
	if sess.ID != "" {
		if err := s.db.DeleteSession(r.Context(), sess.ID); err != nil {
			return err
		}
	}
	sess.ID = ""
	return nil
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
