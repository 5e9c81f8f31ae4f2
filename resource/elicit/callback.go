package elicit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// CallbackType is the JWT typ of the completion notices mcp-authz posts to a resource's
// elicitation_callback URL.
const CallbackType = "elicitation-complete+jwt"

// Notice is a verified completion notice: which elicitation completed, and how. It carries no
// result; read that with [Client.Get].
type Notice struct {
	ElicitationID string
	Status        string
	IssuedAt      time.Time
}

// noticeClaims are a notice's claims.
type noticeClaims struct {
	Issuer        string `json:"iss"`
	Audience      string `json:"aud"`
	IssuedAt      int64  `json:"iat"`
	Expiry        int64  `json:"exp"`
	ElicitationID string `json:"elicitation_id"`
	Status        string `json:"status"`
}

// leeway is the clock skew forgiven on exp and iat.
const leeway = time.Minute

// VerifyNotice verifies a notice: an ES256 JWS by a key in the authorization server's JWKS,
// typ elicitation-complete+jwt, iss the issuer, aud this resource, not expired. A notice only
// says "read the outcome now", so a replayed one does no harm and jti is not tracked.
func (c *Client) VerifyNotice(ctx context.Context, raw []byte) (*Notice, error) {
	if c.cfg.Resource == "" {
		return nil, errors.New("elicit: Config.Resource is required to verify notices")
	}
	jws, err := jose.ParseSigned(string(raw), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("elicit: notice is not a JWS: %w", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != CallbackType {
		return nil, fmt.Errorf("elicit: notice typ %q, want %s", typ, CallbackType)
	}
	key, err := c.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("elicit: notice signature: %w", err)
	}
	var cl noticeClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, fmt.Errorf("elicit: notice claims: %w", err)
	}
	now := time.Now()
	switch {
	case cl.Issuer != c.cfg.Issuer:
		return nil, fmt.Errorf("elicit: notice from issuer %q", cl.Issuer)
	case cl.Audience != c.cfg.Resource:
		return nil, fmt.Errorf("elicit: notice for resource %q", cl.Audience)
	case !now.Before(time.Unix(cl.Expiry, 0).Add(leeway)):
		return nil, errors.New("elicit: notice has expired")
	case time.Unix(cl.IssuedAt, 0).After(now.Add(leeway)):
		return nil, errors.New("elicit: notice issued in the future")
	case cl.ElicitationID == "":
		return nil, errors.New("elicit: notice names no elicitation")
	}
	return &Notice{ElicitationID: cl.ElicitationID, Status: cl.Status, IssuedAt: time.Unix(cl.IssuedAt, 0)}, nil
}

// CallbackHandler serves the resource's elicitation_callback URL: it verifies each notice and
// calls handle with it (in the request's goroutine: return quickly). It answers 204, or 400 for
// a notice that does not verify.
func (c *Client) CallbackHandler(handle func(context.Context, *Notice)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<10))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		n, err := c.VerifyNotice(r.Context(), body)
		if err != nil {
			http.Error(w, "the notice does not verify", http.StatusBadRequest)
			return
		}
		handle(r.Context(), n)
		w.WriteHeader(http.StatusNoContent)
	})
}

// keySet is the authorization server's JWKS.
type keySet struct{ set jose.JSONWebKeySet }

// refetchInterval bounds how often an unknown kid makes the JWKS be fetched again.
const refetchInterval = time.Minute

// key finds the public key with kid, fetching the JWKS when the kid is unknown (a rotation).
func (c *Client) key(ctx context.Context, kid string) (any, error) {
	c.keysMu.Lock()
	defer c.keysMu.Unlock()
	find := func() any {
		if c.keys == nil {
			return nil
		}
		for _, k := range c.keys.set.Key(kid) {
			if k.Use == "" || k.Use == "sig" {
				return k.Key
			}
		}
		return nil
	}
	if k := find(); k != nil {
		return k, nil
	}
	if c.keys != nil && time.Since(c.keysFetch) < refetchInterval {
		return nil, fmt.Errorf("elicit: no key %q in the JWKS", kid)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.JWKSURI, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("elicit: JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("elicit: JWKS: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(&set); err != nil {
		return nil, fmt.Errorf("elicit: JWKS: %w", err)
	}
	c.keys, c.keysFetch = &keySet{set: set}, time.Now()
	if k := find(); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("elicit: no key %q in the JWKS", kid)
}
