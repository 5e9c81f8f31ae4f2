package consent

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

// Store is the part of storage consent uses.
type Store interface {
	storage.Users
	storage.Consents
	storage.Sessions
}

// Options configure the browser side.
type Options struct {
	Store Store
	// Issuer is the server's issuer URL: its scheme decides Secure cookies, its origin is the
	// only one forms may be posted from, its path prefixes our pages.
	Issuer string
	// Secret is the server secret; the session cookie key is derived from it.
	Secret          []byte
	SessionLifetime time.Duration
	// MaxFailures failed logins per account and per address within FailureWindow.
	MaxFailures   int
	FailureWindow time.Duration
	// ReturnPaths are path prefixes (under the issuer's path) other than the authorization
	// endpoint that the login page may return to, e.g. "/elicitation/".
	ReturnPaths []string
	// Upstream is sign-in through OpenID Providers (none when it has no providers).
	Upstream Upstream
	// NoLocalAccounts hides the username and password form and refuses it (login.local_accounts:
	// false); only the upstream providers sign people in.
	NoLocalAccounts bool
	Logger          *slog.Logger
	Now             func() time.Time
}

// Service serves login and consent.
type Service struct {
	store    Store
	sessions *sessionStore
	cookie   string
	origin   string
	basePath string
	limiter  *failureLimiter
	returns  []string
	// upstreams are the providers by id, and in the order the login page shows them.
	upstreams     map[string]*upstream
	upstreamOrder []*upstream
	records       storage.Records
	noLocal       bool
	log           *slog.Logger
	now           func() time.Time
	// dummyHash is verified against when a username is unknown, so that the answer takes as
	// long as for a known user with a wrong password (no account enumeration by timing).
	dummyHash string
}

// New builds the service.
func New(o Options) (*Service, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" {
		return nil, errors.New("consent: the issuer is not a URL")
	}
	if o.Store == nil || len(o.Secret) < 32 {
		return nil, errors.New("consent: Store and a secret of at least 32 bytes are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 12 * time.Hour
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = 15 * time.Minute
	}
	secure := u.Scheme == "https"
	dummy, err := HashPassword(randomToken())
	if err != nil {
		return nil, err
	}
	if o.NoLocalAccounts && len(o.Upstream.Providers) == 0 {
		return nil, errors.New("consent: without local accounts, at least one upstream provider is needed")
	}
	if len(o.Upstream.Providers) > 0 && (o.Upstream.HTTPClient == nil || o.Upstream.Records == nil) {
		return nil, errors.New("consent: upstream providers need an HTTP client and a records store")
	}
	basePath := strings.TrimSuffix(u.EscapedPath(), "/")
	upstreams := map[string]*upstream{}
	var order []*upstream
	for _, p := range o.Upstream.Providers {
		if p.ID == "" || upstreams[p.ID] != nil {
			return nil, fmt.Errorf("consent: upstream provider id %q is empty or repeated", p.ID)
		}
		up := &upstream{
			UpstreamProvider: p,
			redirectURL:      u.Scheme + "://" + u.Host + basePath + "/login/upstream/" + p.ID + "/callback",
			client:           o.Upstream.HTTPClient,
			now:              o.Now,
		}
		upstreams[p.ID] = up
		order = append(order, up)
	}
	return &Service{
		upstreams:     upstreams,
		upstreamOrder: order,
		records:       o.Upstream.Records,
		noLocal:       o.NoLocalAccounts,
		store:         o.Store,
		sessions:      newSessionStore(o.Store, o.Secret, secure, o.SessionLifetime, o.Now),
		cookie:        cookieName(secure),
		origin:        u.Scheme + "://" + u.Host,
		basePath:      basePath,
		limiter:       newFailureLimiter(o.MaxFailures, o.FailureWindow, o.Now),
		returns:       o.ReturnPaths,
		log:           o.Logger,
		now:           o.Now,
		dummyHash:     dummy,
	}, nil
}

// Register mounts the login and logout pages.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc(s.basePath+"/login", s.handleLogin)
	mux.HandleFunc(s.basePath+"/logout", s.handleLogout)
	mux.HandleFunc("GET "+s.basePath+"/login/upstream/{id}", s.handleUpstreamStart)
	mux.HandleFunc("GET "+s.basePath+"/login/upstream/{id}/callback", s.handleUpstreamCallback)
}

// session returns the browser's session (empty when there is none).
func (s *Service) session(r *http.Request) (*sessions.Session, error) {
	return s.sessions.Get(r, s.cookie)
}

func value(sess *sessions.Session, key string) string {
	v, _ := sess.Values[key].(string)
	return v
}

// csrfToken returns the session's CSRF token, creating one. The session must be saved after.
func csrfToken(sess *sessions.Session) string {
	t := value(sess, keyCSRF)
	if t == "" {
		t = randomToken()
		sess.Values[keyCSRF] = t
	}
	return t
}

// checkForm verifies a form post: it comes from our own origin when the browser says where it
// comes from, and carries the session's CSRF token (synchronizer token pattern; SameSite=Lax
// cookies are a second line, not the defence).
func (s *Service) checkForm(r *http.Request, sess *sessions.Session) error {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != s.origin {
		return errors.New("the form was posted from another site")
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errors.New("the form was posted from another site")
	}
	want := value(sess, keyCSRF)
	got := r.PostForm.Get("csrf_token")
	if want == "" || got == "" || subtle.ConstantTimeCompare([]byte(want), []byte(got)) != 1 {
		return errors.New("the form has expired or did not come from this site")
	}
	return nil
}

// signedInUser returns the session's user, or nil when nobody (valid) is signed in.
func (s *Service) signedInUser(r *http.Request, sess *sessions.Session) (*storage.User, time.Time, error) {
	uid := value(sess, keyUserID)
	if uid == "" {
		return nil, time.Time{}, nil
	}
	// A session whose way of signing in is no longer configured (a provider removed, local
	// accounts switched off) no longer counts.
	if p := value(sess, keyUpstream); (p == "" && s.noLocal) || (p != "" && s.upstreams[p] == nil) {
		return nil, time.Time{}, nil
	}
	u, err := s.store.GetUser(r.Context(), uid)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	if u.Disabled {
		return nil, time.Time{}, nil
	}
	secs, _ := strconv.ParseInt(value(sess, keyAuthTime), 10, 64)
	return u, time.Unix(secs, 0).UTC(), nil
}

func (s *Service) errorPage(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	httpx.RenderPage(r.Context(), w, status, templates.Error(templates.ErrorView{
		Page:    templates.Page{Title: heading},
		Heading: heading,
		Message: message,
	}))
}

func (s *Service) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "error", err)
	s.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete this step. Please try again.")
}

// clientAddress is the peer address used for rate limiting. Forwarded headers are not trusted:
// anyone can send them.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// The browser session, for other pages of this server (the elicitation pages): who is signed
// in, sending someone to sign in, and CSRF protection for their forms, all the same as login
// and consent use.

// SignedInUser returns the user signed in in this browser, or nil.
func (s *Service) SignedInUser(r *http.Request) (*storage.User, error) {
	sess, err := s.session(r)
	if err != nil {
		return nil, err
	}
	u, _, err := s.signedInUser(r, sess)
	return u, err
}

// RedirectToLogin sends the browser to sign in, then back to returnTo (a path under the
// issuer's path, in ReturnPaths or the authorization endpoint).
func (s *Service) RedirectToLogin(w http.ResponseWriter, r *http.Request, returnTo string) {
	http.Redirect(w, r, s.loginURL(returnTo), http.StatusSeeOther)
}

// FormToken returns the session's CSRF token for a form (csrf_token field), saving the session.
func (s *Service) FormToken(w http.ResponseWriter, r *http.Request) (string, error) {
	sess, err := s.session(r)
	if err != nil {
		return "", err
	}
	t := csrfToken(sess)
	return t, sess.Save(r, w)
}

// CheckForm verifies a posted form's origin and CSRF token (the form must be parsed).
func (s *Service) CheckForm(r *http.Request) error {
	sess, err := s.session(r)
	if err != nil {
		return err
	}
	return s.checkForm(r, sess)
}
