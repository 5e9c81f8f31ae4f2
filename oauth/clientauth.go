package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
	"github.com/mcp-authz/mcp-authz/storage"
)

// ClientAssertionType is RFC 7523 §2.2's client_assertion_type.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	// maxAssertionLifetime bounds how far in the future a client assertion may expire: it is
	// made for one request, and its jti is remembered until it expires.
	maxAssertionLifetime = 5 * time.Minute
	// clockSkew is what we forgive between our clock and the client's.
	clockSkew = 30 * time.Second
)

// authenticateClient authenticates the client of a request to the token, introspection or
// revocation endpoint: RFC 6749 §2.3.1 (client_secret_basic, client_secret_post), RFC 7523
// §2.2 (private_key_jwt), or a public client naming itself (none). Exactly one method may be
// used (§2.3). A client registered for one method cannot use another.
//
// For private_key_jwt the assertion's jti must be recorded before the request succeeds; the
// UseJTI change is returned, not applied, so that a grant can apply it in the same transaction
// as the token it issues (one durable write per token).
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (*Client, *storage.UseJTI, error) {
	basicID, basicSecret, hasBasic := r.BasicAuth()
	postSecret, hasPost := form["client_secret"]
	assertion := form.Get("client_assertion")
	n := 0
	for _, used := range []bool{hasBasic, hasPost, assertion != "" || form.Get("client_assertion_type") != ""} {
		if used {
			n++
		}
	}
	if n > 1 {
		return nil, nil, fosite.ErrInvalidRequest.WithHint("The client used more than one authentication method (RFC 6749 §2.3).")
	}
	formID := form.Get("client_id")

	switch {
	case hasBasic:
		// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
		id, err1 := url.QueryUnescape(basicID)
		secret, err2 := url.QueryUnescape(basicSecret)
		if err1 != nil || err2 != nil {
			return nil, nil, fosite.ErrInvalidClient.WithHint("The HTTP Basic credentials are not form-urlencoded.")
		}
		if formID != "" && formID != id {
			return nil, nil, fosite.ErrInvalidRequest.WithHint("client_id differs from the HTTP Basic user name.")
		}
		c, err := p.secretClient(ctx, id, secret)
		return c, nil, err
	case hasPost:
		if len(postSecret) != 1 {
			return nil, nil, fosite.ErrInvalidRequest.WithHint("client_secret is included more than once.")
		}
		c, err := p.secretClient(ctx, formID, postSecret[0])
		return c, nil, err
	case assertion != "":
		return p.assertionClient(ctx, r, form)
	case form.Get("client_assertion_type") != "":
		return nil, nil, fosite.ErrInvalidRequest.WithHint("client_assertion_type without client_assertion.")
	default:
		if formID == "" {
			return nil, nil, fosite.ErrInvalidClient.WithHint("The request does not identify the client.")
		}
		c, err := p.lookupClient(ctx, formID)
		if err != nil {
			return nil, nil, err
		}
		if !c.IsPublic() {
			return nil, nil, fosite.ErrInvalidClient.WithHint("This client must authenticate.")
		}
		return c, nil, nil
	}
}

func (p *Provider) lookupClient(ctx context.Context, id string) (*Client, error) {
	if id == "" {
		return nil, fosite.ErrInvalidClient.WithHint("The request does not identify the client.")
	}
	c, err := p.clients.Client(ctx, id)
	if err != nil {
		p.log.InfoContext(ctx, "client authentication: unknown client", "client_id", id, "rule", ruleOf(err), "reason", err)
		return nil, fosite.ErrInvalidClient.WithHint("The client is unknown or could not be verified.")
	}
	return c, nil
}

// secretClient checks a client secret. Secrets are server-generated with 256 bits of entropy,
// so one SHA-256 and a constant-time comparison are as safe as a slow hash, at a millionth of
// the cost (issue: 10,000 tokens/s).
func (p *Provider) secretClient(ctx context.Context, id, secret string) (*Client, error) {
	c, err := p.lookupClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(c.SecretHash) == 0 || (c.AuthMethod != "client_secret_basic" && c.AuthMethod != "client_secret_post") {
		return nil, fosite.ErrInvalidClient.WithHint("This client does not authenticate with a client secret.")
	}
	if subtle.ConstantTimeCompare([]byte(HashSecret(secret)), c.SecretHash) != 1 {
		p.log.InfoContext(ctx, "client authentication: wrong secret", "client_id", id)
		return nil, fosite.ErrInvalidClient.WithHint("The client secret is wrong.")
	}
	return c, nil
}

// assertionClaims are the claims RFC 7523 §3 asks about.
type assertionClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  stringOrSet  `json:"aud"`
	Expiry    *numericDate `json:"exp"`
	IssuedAt  *numericDate `json:"iat"`
	NotBefore *numericDate `json:"nbf"`
	ID        string       `json:"jti"`
}

// assertionClient authenticates with a client assertion (RFC 7523 §2.2, §3).
func (p *Provider) assertionClient(ctx context.Context, r *http.Request, form url.Values) (*Client, *storage.UseJTI, error) {
	if form.Get("client_assertion_type") != ClientAssertionType {
		return nil, nil, fosite.ErrInvalidRequest.WithHintf("client_assertion_type must be %s.", ClientAssertionType)
	}
	tok, err := jwtverify.Parse(form.Get("client_assertion"))
	if err != nil {
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client assertion is malformed.")
	}
	if err := tok.CheckAlgorithm(nil); err != nil {
		return nil, nil, fosite.ErrInvalidClient.WithHintf("The client assertion's algorithm %q is not accepted.", tok.Header.Alg)
	}
	var cl assertionClaims
	if err := json.Unmarshal(tok.Claims, &cl); err != nil {
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client assertion's claims are malformed.")
	}
	// §3: iss and sub are the client_id.
	if cl.Issuer == "" || cl.Issuer != cl.Subject {
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client assertion's iss and sub must both be the client_id.")
	}
	if id := form.Get("client_id"); id != "" && id != cl.Issuer {
		return nil, nil, fosite.ErrInvalidClient.WithHint("client_id differs from the client assertion's issuer.")
	}
	c, err := p.lookupClient(ctx, cl.Issuer)
	if err != nil {
		return nil, nil, err
	}
	if c.AuthMethod != "private_key_jwt" || c.Keys == nil {
		return nil, nil, fosite.ErrInvalidClient.WithHint("This client does not authenticate with private_key_jwt.")
	}
	keys, err := c.Keys.Keys(ctx, tok.Header.Kid)
	if err != nil {
		p.log.WarnContext(ctx, "client authentication: client keys unavailable", "client_id", c.ID, "error", err)
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client's keys could not be obtained.")
	}
	if err := tok.Verify(keys); err != nil {
		return nil, nil, fosite.ErrInvalidClient.WithHintf("The client assertion's signature does not verify: %v.", err)
	}
	now := p.now()
	if err := checkTimes(now, cl.Expiry, cl.IssuedAt, cl.NotBefore, maxAssertionLifetime); err != nil {
		return nil, nil, fosite.ErrInvalidClient.WithHintf("The client assertion %v.", err)
	}
	// §3: aud identifies us. Clients differ (the MCP SDKs send the issuer, others the token
	// endpoint), so either is accepted, and the endpoint the assertion was sent to.
	if !cl.Audience.containsAny(p.issuer, p.issuer+"/token", p.issuer+r.URL.Path) {
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client assertion's aud is neither this issuer nor this endpoint.")
	}
	if cl.ID == "" {
		return nil, nil, fosite.ErrInvalidClient.WithHint("The client assertion has no jti.")
	}
	return c, &storage.UseJTI{JTI: "client_assertion:" + c.ID + ":" + cl.ID, ExpiresAt: cl.Expiry.Time().Add(clockSkew)}, nil
}

// checkTimes applies exp (required), iat and nbf with clock skew, and bounds the lifetime.
func checkTimes(now time.Time, exp, iat, nbf *numericDate, maxLifetime time.Duration) error {
	if exp == nil {
		return errors.New("has no exp")
	}
	if !now.Before(exp.Time().Add(clockSkew)) {
		return errors.New("has expired")
	}
	if iat != nil && iat.Time().After(now.Add(clockSkew)) {
		return errors.New("was issued in the future")
	}
	if nbf != nil && nbf.Time().After(now.Add(clockSkew)) {
		return errors.New("is not valid yet")
	}
	start := now
	if iat != nil && iat.Time().Before(now) {
		start = iat.Time()
	}
	if exp.Time().Sub(start) > maxLifetime+clockSkew {
		return fmt.Errorf("lives longer than %v", maxLifetime)
	}
	return nil
}

// fositeClientAuth is fosite's ClientAuthenticationStrategy: the code and refresh grants,
// revocation and introspection authenticate clients exactly as our own grants do.
func (p *Provider) fositeClientAuth(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	c, jti, err := p.authenticateClient(ctx, r, form)
	if err != nil {
		return nil, err
	}
	if jti != nil {
		if err := p.tokens.Apply(ctx, *jti); err != nil {
			return nil, replayError(err)
		}
	}
	return c, nil
}

func replayError(err error) error {
	if errors.Is(err, storage.ErrConflict) {
		return fosite.ErrInvalidClient.WithHint("The client assertion was used before (its jti is single-use).")
	}
	return fosite.ErrServerError.WithWrap(err)
}

// numericDate is a JWT NumericDate (RFC 7519 §2): seconds, possibly fractional.
type numericDate float64

func (d *numericDate) Time() time.Time {
	sec := float64(*d)
	return time.Unix(int64(sec), int64((sec-float64(int64(sec)))*1e9))
}

// stringOrSet is a claim that is a string or an array of strings (aud, RFC 7519 §4.1.3).
type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringOrSet{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*s = many
	return nil
}

func (s stringOrSet) containsAny(values ...string) bool {
	for _, a := range s {
		for _, v := range values {
			if a == v {
				return true
			}
		}
	}
	return false
}
