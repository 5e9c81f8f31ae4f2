package enterprise

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-authz/mcp-authz/internal/testidp"
	"github.com/mcp-authz/mcp-authz/storage"
)

// checkOutcome holds whatever Exchange did to the invariants: a refusal is an *Error with a
// known code and a description; an acceptance is within IdP A's policy (the only one the fuzzed
// tokens can verify under besides the optional-resource IdP, which shares its key and policy).
func checkOutcome(t *testing.T, g Grant, err error) {
	t.Helper()
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("not a refusal: %v", err)
		}
		if !slices.Contains([]string{CodeInvalidGrant, CodeInvalidTarget, CodeInvalidScope, CodeUnauthorizedClient}, e.Code) || e.Description == "" {
			t.Fatalf("refusal %q %q", e.Code, e.Description)
		}
		return
	}
	if g.Resource != mcpURI || !slices.Equal(g.Scopes, []string{"mcp:tools"}) || !strings.HasPrefix(g.Subject, SubjectPrefix) {
		t.Fatalf("grant beyond policy: %+v", g)
	}
	if len(g.Changes) != 1 {
		t.Fatalf("changes %v", g.Changes)
	}
	if j, ok := g.Changes[0].(storage.UseJTI); !ok || len(j.JTI) > 64 {
		t.Fatalf("jti change %+v", g.Changes[0])
	}
}

// FuzzExchangeAssertion feeds arbitrary strings as the assertion: the parser and every check
// before the signature see them.
func FuzzExchangeAssertion(f *testing.F) {
	fx := newFixture(f)
	good := fx.sign(fx.claims())
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(good[:len(good)/2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add(testidp.Unsigned(map[string]any{"alg": "none", "typ": testidp.TypIDJAG}, fx.claims(), []byte("x")))
	f.Add(testidp.SignHMAC(fx.keyA.PublicJSON(), map[string]any{"typ": testidp.TypIDJAG}, fx.claims()))
	f.Fuzz(func(t *testing.T, assertion string) {
		g, err := fx.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: assertion})
		checkOutcome(t, g, err)
	})
}

// FuzzExchangeClaims signs arbitrary headers and payloads with IdP A's key, so that every claim
// check after the signature sees hostile input from a trusted issuer.
func FuzzExchangeClaims(f *testing.F) {
	fx := newFixture(f)
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	hdr := enc(map[string]any{"alg": "ES256", "kid": fx.keyA.ID, "typ": testidp.TypIDJAG})
	f.Add(hdr, enc(fx.claims()), "", "")
	f.Add(hdr, enc(with(fx.claims(), "aud", []any{ourIssuer, nil})), mcpURI, "mcp:tools")
	f.Add(hdr, enc(with(fx.claims(), "resource", []any{mcpURI, filesURI}, "scope", "mcp:tools mcp:admin")), filesURI, "mcp:admin")
	f.Add(hdr, enc(with(fx.claims(), "exp", 1e300, "iat", -1e300)), "", "")
	f.Add(hdr, enc(with(fx.claims(), "iss", issuerOpt, "resource", nil)), "", "")
	f.Add(hdr, `{"iss":"`+issuerA+`","exp":null,"aud":null,"resource":null}`, "", "")
	f.Add(`{"alg":"ES256","typ":"oauth-id-jag+jwt","crit":["x"]}`, enc(fx.claims()), "", "")
	f.Fuzz(func(t *testing.T, header, payload, resource, scope string) {
		raw := fx.keyA.SignRaw([]byte(header), []byte(payload))
		req := Request{ClientID: app, Assertion: raw, Scope: scope}
		if resource != "" {
			req.Resources = []string{resource}
		}
		g, err := fx.ex.Exchange(context.Background(), req)
		checkOutcome(t, g, err)
	})
}

// TestLogsNeverHoldTheAssertion: what is logged about an assertion is its issuer, jti and the
// derived subject, never the token, its signature or the user's email.
func TestLogsNeverHoldTheAssertion(t *testing.T) {
	fx := newFixture(t)
	var buf bytes.Buffer
	fx.ex.log = slog.New(slog.NewTextHandler(&buf, nil))
	good := fx.sign(fx.claims())
	bad := fx.keyOther.Sign(map[string]any{"typ": testidp.TypIDJAG}, fx.claims())
	for _, a := range []string{good, bad, fx.sign(with(fx.claims(), "jti", "2", "scope", "mcp:admin"))} {
		_, _ = fx.ex.Exchange(context.Background(), Request{ClientID: app, Assertion: a})
	}
	out := buf.String()
	for _, a := range []string{good, bad} {
		for _, part := range strings.Split(a, ".") {
			if strings.Contains(out, part) {
				t.Errorf("a part of an assertion was logged: %s", out)
			}
		}
	}
	if strings.Contains(out, "pat@acme.example") || strings.Contains(out, "U019488227") {
		t.Errorf("the user's email or IdP subject was logged: %s", out)
	}
	if !strings.Contains(out, "identity assertion accepted") || !strings.Contains(out, "identity assertion refused") {
		t.Errorf("outcomes not logged: %s", out)
	}
}
