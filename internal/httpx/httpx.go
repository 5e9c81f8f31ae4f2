package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
)

// MaxFormBytes bounds every form body we read. OAuth requests are small; a client assertion or
// an ID-JAG is a few KiB.
const MaxFormBytes = 64 << 10

// MaxQueryBytes bounds the query string of a GET we act on.
const MaxQueryBytes = 16 << 10

// ErrDuplicateParameter is returned by [ParseForm] for a parameter sent twice (RFC 6749 §3.1:
// "Request and response parameters MUST NOT be included more than once").
var ErrDuplicateParameter = errors.New("parameter included more than once")

// ParseForm reads the query and, for POST, the url-encoded body (at most MaxFormBytes), and
// refuses a parameter sent more than once unless it is listed in repeatable (RFC 8707 lets
// "resource" repeat). After it, r.Form and r.PostForm are populated as usual.
func ParseForm(w http.ResponseWriter, r *http.Request, repeatable ...string) error {
	if len(r.URL.RawQuery) > MaxQueryBytes {
		return fmt.Errorf("the query string is longer than %d bytes", MaxQueryBytes)
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("the request body is larger than %d bytes", MaxFormBytes)
		}
		return fmt.Errorf("the request is not a valid form: %w", err)
	}
	// r.Form merges query and body, so a value in both counts as a duplicate too.
	for name, values := range r.Form {
		if len(values) <= 1 || contains(repeatable, name) {
			continue
		}
		return fmt.Errorf("%w: %q", ErrDuplicateParameter, name)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// WriteJSON writes v as a JSON response that no cache may keep (RFC 6749 §5.1 asks it of token
// responses; it is as true of introspection and metadata errors).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// OAuthError is an RFC 6749 §5.2 error body.
type OAuthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// WriteOAuthError writes an RFC 6749 §5.2 error. invalid_client gets 401 and a Basic challenge
// when the client tried HTTP Basic (§5.2), others 400 unless status says otherwise.
func WriteOAuthError(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	if status == 0 {
		status = http.StatusBadRequest
		if code == "invalid_client" {
			status = http.StatusUnauthorized
		}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="mcp-authz"`)
	}
	WriteJSON(w, status, OAuthError{Code: code, Description: description})
}

// PageCSP is the Content-Security-Policy of every page: nothing but our own stylesheet and
// images, forms that post only to us, and no framing (clickjacking defence for consent).
const PageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// FormTarget is the CSP source that lets a form submission end at redirectURI: its origin (http,
// https) or its scheme (a native app's private-use scheme); "" if neither. Browsers check
// form-action on every redirect that follows a form submission (CSP3 §6.3.2.2), so the login and
// consent forms, whose answer is a redirect to the client, must list the client's redirect URI.
func FormTarget(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" || strings.ContainsAny(redirectURI, " ;,'\"\t\n\r") {
		return ""
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "http", "https":
		if u.Host == "" {
			return ""
		}
		return scheme + "://" + u.Host
	default:
		return scheme + ":"
	}
}

// SetPageHeaders sets the headers every HTML page carries; formTargets are added to form-action.
func SetPageHeaders(h http.Header, formTargets ...string) {
	csp := PageCSP
	var extra []string
	for _, t := range formTargets {
		if t != "" {
			extra = append(extra, t)
		}
	}
	if len(extra) > 0 {
		csp = strings.Replace(csp, "form-action 'self'", "form-action 'self' "+strings.Join(extra, " "), 1)
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// RenderPage sends a templ page with the page security headers; formTargets are the places its
// form may end up after redirects (see FormTarget).
func RenderPage(ctx context.Context, w http.ResponseWriter, status int, page templ.Component, formTargets ...string) {
	SetPageHeaders(w.Header(), formTargets...)
	w.WriteHeader(status)
	_ = page.Render(ctx, w)
}

// Drain discards what is left of a request body so the connection can be reused.
func Drain(r *http.Request) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, MaxFormBytes))
	}
}
