package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestProtect(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	valid := key.sign(t, as.claims(), nil)
	expiredClaims := as.claims()
	expiredClaims["exp"] = clock.Now().Unix() - 1
	expired := key.sign(t, expiredClaims, nil)
	otherAud := as.claims()
	otherAud["aud"] = "https://other.example.com/mcp"
	wrongAudience := key.sign(t, otherAud, nil)

	var seen *Token
	handler := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = TokenFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}), "tools:read")
	writer := v.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), "tools:read", "tools:write")
	md := v.MetadataURL()

	tests := []struct {
		name       string
		handler    http.Handler
		url        string
		auth       []string
		wantStatus int
		wantHeader string // the exact WWW-Authenticate
	}{
		{"valid", handler, "/mcp", []string{"Bearer " + valid}, http.StatusNoContent, ""},
		{"scheme in any case", handler, "/mcp", []string{"bEaReR " + valid}, http.StatusNoContent, ""},
		{"missing header", handler, "/mcp", nil, http.StatusUnauthorized,
			`Bearer resource_metadata="` + md + `", scope="tools:read"`},
		{"another scheme", handler, "/mcp", []string{"Basic dXNlcjpwYXNz"}, http.StatusUnauthorized,
			`Bearer resource_metadata="` + md + `", scope="tools:read"`},
		{"token in the query string is ignored", handler, "/mcp?access_token=" + url.QueryEscape(valid), nil, http.StatusUnauthorized,
			`Bearer resource_metadata="` + md + `", scope="tools:read"`},
		{"empty bearer token", handler, "/mcp", []string{"Bearer "}, http.StatusBadRequest,
			`Bearer error="invalid_request", error_description="empty bearer token", resource_metadata="` + md + `", scope="tools:read"`},
		{"two Authorization headers", handler, "/mcp", []string{"Bearer " + valid, "Bearer " + valid}, http.StatusBadRequest,
			`Bearer error="invalid_request", error_description="more than one Authorization header", resource_metadata="` + md + `", scope="tools:read"`},
		{"not a b64token", handler, "/mcp", []string{"Bearer a,b"}, http.StatusBadRequest,
			`Bearer error="invalid_request", error_description="malformed bearer token", resource_metadata="` + md + `", scope="tools:read"`},
		{"malformed token", handler, "/mcp", []string{"Bearer abc.def"}, http.StatusUnauthorized,
			`Bearer error="invalid_token", error_description="not a JWS compact serialization", resource_metadata="` + md + `", scope="tools:read"`},
		{"expired", handler, "/mcp", []string{"Bearer " + expired}, http.StatusUnauthorized,
			`Bearer error="invalid_token", error_description="token expired", resource_metadata="` + md + `", scope="tools:read"`},
		{"wrong audience", handler, "/mcp", []string{"Bearer " + wrongAudience}, http.StatusUnauthorized,
			`Bearer error="invalid_token", error_description="token is not meant for this resource", resource_metadata="` + md + `", scope="tools:read"`},
		// The token has "tools:read profile"; the challenge asks for those and what is missing.
		{"insufficient scope", writer, "/mcp", []string{"Bearer " + valid}, http.StatusForbidden,
			`Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", resource_metadata="` + md + `", scope="tools:read profile tools:write"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			r := httptest.NewRequest(http.MethodPost, tt.url, strings.NewReader(`{"jsonrpc":"2.0"}`))
			for _, a := range tt.auth {
				r.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			tt.handler.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.wantHeader {
				t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tt.wantHeader)
			}
			if tt.wantStatus == http.StatusNoContent {
				if seen == nil || seen.Subject != "user-123" || seen.ClientID != "https://client.example.com/meta.json" ||
					strings.Join(seen.Scopes, " ") != "tools:read profile" {
					t.Errorf("handler saw %+v", seen)
				}
				return
			}
			if seen != nil {
				t.Error("handler ran")
			}
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("body %q (%v), Content-Type %q", w.Body, err, w.Header().Get("Content-Type"))
			}
			if strings.Contains(tt.wantHeader, "error=") != (body.Error != "") {
				t.Errorf("body error %q with header %s", body.Error, tt.wantHeader)
			}
		})
	}
}

func TestProtectAnswers503WhenTheAuthorizationServerIsDown(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	as.setDown(true)
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+key.sign(t, as.claims(), nil))
	w := httptest.NewRecorder()
	v.Protect(http.NotFoundHandler()).ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("WWW-Authenticate") != "" {
		t.Errorf("status %d, WWW-Authenticate %q; want 503 without a challenge", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestRequireChains(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	h := v.Require("profile")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := TokenFrom(r.Context()); !ok || !tok.HasScope("profile") {
			t.Error("no token in the handler")
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+key.sign(t, as.claims(), nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("status %d", w.Code)
	}
}

// A tool handler checking its own scope, as an MCP server does for one tool among many.
func TestChallengeForOneTool(t *testing.T) {
	clock := newTestClock()
	as := newTestAS(t, clock)
	key := as.newKey("k1", jose.ES256, true)
	v := as.newVerifier(t, nil)
	tool := func(w http.ResponseWriter, r *http.Request) {
		tok, _ := TokenFrom(r.Context())
		if err := tok.Require("files:write"); err != nil {
			v.ChallengeFor(err, "files:write").ServeHTTP(w, r)
			return
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	r.Header.Set("Authorization", "Bearer "+key.sign(t, as.claims(), nil))
	w := httptest.NewRecorder()
	v.Protect(http.HandlerFunc(tool), "tools:read").ServeHTTP(w, r)
	want := `Bearer error="insufficient_scope", error_description="the token lacks a scope this request needs", resource_metadata="` +
		v.MetadataURL() + `", scope="tools:read profile files:write"`
	if w.Code != http.StatusForbidden || w.Header().Get("WWW-Authenticate") != want {
		t.Errorf("status %d, WWW-Authenticate\n got %s\nwant %s", w.Code, w.Header().Get("WWW-Authenticate"), want)
	}

	// Outside Protect there is no token: the answer is the plain 401.
	w = httptest.NewRecorder()
	tool(w, httptest.NewRequest(http.MethodPost, "/mcp", nil))
	if w.Code != http.StatusUnauthorized || strings.Contains(w.Header().Get("WWW-Authenticate"), "error=") {
		t.Errorf("without a token: %d %s", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestChallengeFor(t *testing.T) {
	v, err := New(Config{Resource: testResource, Issuer: "https://auth.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{nil, 0, ""},
		{ErrNoToken, http.StatusUnauthorized, ""},
		{&requestError{"x"}, http.StatusBadRequest, "invalid_request"},
		{invalidToken("x"), http.StatusUnauthorized, "invalid_token"},
		{errors.New("something else"), http.StatusUnauthorized, "invalid_token"},
		{(&Token{Scopes: []string{"a"}}).Require("b"), http.StatusForbidden, "insufficient_scope"},
		{ErrUnavailable, http.StatusServiceUnavailable, ""},
	}
	for _, tt := range tests {
		c := v.ChallengeFor(tt.err, "s")
		if tt.err == nil {
			if c != nil {
				t.Errorf("ChallengeFor(nil) = %+v", c)
			}
			continue
		}
		if c.Status != tt.wantStatus || c.Code != tt.wantCode || c.ResourceMetadata != v.MetadataURL() {
			t.Errorf("ChallengeFor(%v) = %+v", tt.err, c)
		}
	}
}

func TestChallengeHeaderQuotesAndEscapes(t *testing.T) {
	c := &Challenge{
		Code:             "invalid_token",
		Description:      "a \"quoted\" back\\slash,\r\nInjected: header\x00 ünï",
		ResourceMetadata: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
		Scope:            []string{"a", "b"},
	}
	want := `Bearer error="invalid_token", error_description="a \"quoted\" back\\slash,Injected: header n", ` +
		`resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="a b"`
	if got := c.Header(); got != want {
		t.Errorf("Header()\n got %s\nwant %s", got, want)
	}
	if got := (&Challenge{}).Header(); got != "Bearer" {
		t.Errorf("empty challenge = %q", got)
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header  []string
		want    string
		wantErr error
	}{
		{nil, "", ErrNoToken},
		{[]string{"Bearer abc.DEF-_~+/=="}, "abc.DEF-_~+/==", nil},
		{[]string{"bearer   abc  "}, "abc", nil},
		{[]string{"Basic abc"}, "", ErrNoToken},
		{[]string{"Bearerabc"}, "", ErrNoToken},
		{[]string{"Bearer"}, "", ErrInvalidRequest},
		{[]string{"Bearer a=b"}, "", ErrInvalidRequest},
		{[]string{"Bearer ab c"}, "", ErrInvalidRequest},
		{[]string{"Bearer ===="}, "", ErrInvalidRequest},
		{[]string{"Bearer a", "Bearer b"}, "", ErrInvalidRequest},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Authorization"] = tt.header
		got, err := BearerToken(r)
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.wantErr)
		}
	}
}
