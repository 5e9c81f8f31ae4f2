package consent

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

const maxUsernameLength = 256

// handleLogin serves the sign-in page (GET) and checks a sign-in (POST).
func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Not allowed", "This page takes GET and POST requests.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	sess, err := s.session(r)
	if err != nil {
		s.serverError(w, r, "login: session", err)
		return
	}
	ret := s.safeReturn(r.Form.Get("return"))
	view := templates.LoginView{Page: templates.Page{Title: "Sign in"}, Action: s.basePath + "/login", Return: ret, LocalLogin: !s.noLocal}
	for _, up := range s.upstreamOrder {
		view.Providers = append(view.Providers, templates.ProviderLink{Name: up.Name, URL: s.upstreamURL(up.ID, ret)})
	}

	if r.Method == http.MethodGet {
		s.renderLogin(w, r, sess, http.StatusOK, view)
		return
	}
	if s.noLocal {
		s.log.InfoContext(r.Context(), "login: password sign-in refused: local accounts are off", "addr", clientAddress(r))
		view.Error = "Sign in with one of the providers below."
		s.renderLogin(w, r, sess, http.StatusForbidden, view)
		return
	}

	if err := s.checkForm(r, sess); err != nil {
		s.log.InfoContext(r.Context(), "login: form refused", "reason", err, "addr", clientAddress(r))
		view.Error = "This sign-in form has expired. Please try again."
		s.renderLogin(w, r, sess, http.StatusForbidden, view)
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	view.Username = username
	if username == "" || password == "" || len(username) > maxUsernameLength {
		view.Error = "Enter your username and password."
		s.renderLogin(w, r, sess, http.StatusBadRequest, view)
		return
	}

	accountKey, addrKey := "user:"+strings.ToLower(username), "addr:"+clientAddress(r)
	if blocked, wait := s.limiter.Blocked(accountKey, addrKey); blocked {
		s.log.WarnContext(r.Context(), "login: rate limited", "username", username, "addr", clientAddress(r))
		view.Error = fmt.Sprintf("Too many failed attempts. Try again in %d minutes.", int(wait.Minutes())+1)
		s.renderLogin(w, r, sess, http.StatusTooManyRequests, view)
		return
	}

	user, ok, err := s.authenticate(r, username, password)
	if err != nil {
		s.serverError(w, r, "login: authenticate", err)
		return
	}
	if !ok {
		s.limiter.Fail(accountKey, addrKey)
		s.log.InfoContext(r.Context(), "login: failed", "username", username, "addr", clientAddress(r))
		view.Error = "Wrong username or password."
		s.renderLogin(w, r, sess, http.StatusUnauthorized, view)
		return
	}
	s.limiter.Reset(accountKey)

	if err := s.sessions.renew(r, sess); err != nil {
		s.serverError(w, r, "login: renew session", err)
		return
	}
	sess.Values = map[any]any{
		keyUserID:   user.ID,
		keyAuthTime: strconv.FormatInt(s.now().Unix(), 10),
		keyCSRF:     randomToken(),
	}
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "login: save session", err)
		return
	}
	s.log.InfoContext(r.Context(), "login: signed in", "sub", user.ID, "username", user.Username)
	if ret == "" {
		s.errorPage(w, r, http.StatusOK, "You're signed in", "You can close this page and return to the app.")
		return
	}
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// authenticate checks a username and password, taking as long for an unknown user as for a
// known one.
func (s *Service) authenticate(r *http.Request, username, password string) (*storage.User, bool, error) {
	user, err := s.store.GetUserByUsername(r.Context(), username)
	if errors.Is(err, storage.ErrNotFound) {
		_, _ = VerifyPassword(s.dummyHash, password)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if user.PasswordHash == "" || user.Disabled {
		_, _ = VerifyPassword(s.dummyHash, password)
		return nil, false, nil
	}
	ok, err := VerifyPassword(user.PasswordHash, password)
	if err != nil {
		return nil, false, fmt.Errorf("user %s: %w", user.ID, err)
	}
	return user, ok, nil
}

func (s *Service) renderLogin(w http.ResponseWriter, r *http.Request, sess *sessions.Session, status int, view templates.LoginView) {
	view.CSRFToken = csrfToken(sess)
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "login: save session", err)
		return
	}
	// Signing in ends at the client when consent is remembered: /login → /authorize → redirect
	// URI. The redirect URI is not verified yet here; listing it gives nothing away, since the
	// form posts only to /login and /authorize verifies the redirect before anyone is sent there.
	var target string
	if u, err := url.Parse(view.Return); err == nil && view.Return != "" {
		target = httpx.FormTarget(u.Query().Get("redirect_uri"))
	}
	httpx.RenderPage(r.Context(), w, status, templates.Login(view), target)
}

// safeReturn accepts only a return to our own authorization endpoint: a relative URL we build
// ourselves, so the login page can never be made into an open redirect.
func (s *Service) safeReturn(ret string) string {
	if !strings.HasPrefix(ret, "/") || strings.HasPrefix(ret, "//") || strings.Contains(ret, "\\") || len(ret) > httpx.MaxQueryBytes {
		return ""
	}
	u, err := url.Parse(ret)
	if err != nil || u.IsAbs() || u.Host != "" || u.User != nil || strings.Contains(u.Path, "..") {
		return ""
	}
	if u.Path == s.basePath+"/authorize" {
		return ret
	}
	for _, p := range s.returns {
		if strings.HasPrefix(u.Path, s.basePath+p) {
			return ret
		}
	}
	return ""
}

// loginURL is where an unauthenticated authorization request is sent.
func (s *Service) loginURL(returnTo string) string {
	return s.basePath + "/login?" + url.Values{"return": {returnTo}}.Encode()
}

// handleLogout ends the session (POST with the CSRF token, so that no other site can sign a
// user out).
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		s.errorPage(w, r, http.StatusMethodNotAllowed, "Not allowed", "Sign out with the button on a page of this site.")
		return
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	sess, err := s.session(r)
	if err != nil {
		s.serverError(w, r, "logout: session", err)
		return
	}
	if err := s.checkForm(r, sess); err != nil {
		s.errorPage(w, r, http.StatusForbidden, "Sign-out refused", err.Error())
		return
	}
	sess.Options.MaxAge = -1
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "logout: delete session", err)
		return
	}
	s.errorPage(w, r, http.StatusOK, "You're signed out", "You can close this page.")
}
