package cimd

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
)

// Limits on document content. The document as a whole is bounded by Config.MaxDocumentBytes.
const (
	maxClientNameBytes = 200
	maxScopeBytes      = 1000
	maxKeys            = 16
	minRSABits         = 2048
)

// Grant and auth method names.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	grantJWTBearer         = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	authNone               = "none"
	authPrivateKeyJWT      = "private_key_jwt"
)

// docLimits are the configurable limits parseDocument applies.
type docLimits struct {
	maxRedirectURIs int
	maxURLLength    int
}

// parseDocument parses and validates a client ID metadata document fetched from clientID. The
// returned Client lacks what only the resolver knows: host, allow-list badge and times.
func parseDocument(clientID string, data []byte, lim docLimits) (*Client, *Error) {
	m, err := parseMembers(data)
	if err != nil {
		return nil, fail(clientID, RuleNotJSON, "%v", err)
	}
	bad := func(rule Rule, format string, args ...any) (*Client, *Error) {
		return nil, fail(clientID, rule, format, args...)
	}
	c := &Client{}

	// CIMD §4: the client_id in the document equals the URL it was fetched from, by simple
	// string comparison, with no normalisation.
	id, ok, err := m.str("client_id")
	switch {
	case err != nil:
		return bad(RuleNotJSON, "%v", err)
	case !ok:
		return bad(RuleClientIDMismatch, "the document has no client_id")
	case id != clientID:
		return bad(RuleClientIDMismatch, "the document's client_id is %q", cut(id, 100))
	}
	c.id = id

	// CIMD §4.1: the document is public, so a secret in it is no secret. Refuse rather than
	// ignore, so that the client's developer finds out.
	if _, ok := m["client_secret"]; ok {
		return bad(RuleClientSecret, "a client ID metadata document must not contain client_secret")
	}

	// MCP authorization requires client_name; it is shown to the user, so no control or
	// invisible formatting characters (bidi overrides could make it read as something else).
	name, ok, err := m.str("client_name")
	switch {
	case err != nil:
		return bad(RuleNotJSON, "%v", err)
	case !ok || strings.TrimSpace(name) == "":
		return bad(RuleClientNameMissing, "the document has no client_name")
	case len(name) > maxClientNameBytes:
		return bad(RuleClientNameInvalid, "client_name is longer than %d bytes", maxClientNameBytes)
	case strings.IndexFunc(name, hiddenRune) >= 0:
		return bad(RuleClientNameInvalid, "client_name contains control or formatting characters")
	}
	c.name = name

	uris, ok, err := m.strs("redirect_uris")
	switch {
	case err != nil:
		return bad(RuleNotJSON, "%v", err)
	case !ok || len(uris) == 0:
		return bad(RuleRedirectURIsMissing, "the document has no redirect_uris")
	case len(uris) > lim.maxRedirectURIs:
		return bad(RuleTooManyRedirectURIs, "%d redirect_uris, at most %d", len(uris), lim.maxRedirectURIs)
	}
	for i, u := range uris {
		if len(u) > lim.maxURLLength {
			return bad(RuleRedirectURIInvalid, "redirect_uris[%d] is longer than %d bytes", i, lim.maxURLLength)
		}
		if err := redirecturi.Check(u); err != nil {
			return bad(RuleRedirectURIInvalid, "redirect_uris[%d] %q: %v", i, cut(u, 100), err)
		}
	}
	c.redirectURIs = uris

	// Keys: inline jwks or jwks_uri, never both (RFC 7591 §2).
	var thumbprints []string
	if raw, ok := m["jwks"]; ok && !isNull(raw) {
		c.jwks, thumbprints, err = parseJWKS(raw)
		if err != nil {
			return bad(RuleKeysInvalid, "jwks: %v", err)
		}
	}
	jwksURI, ok, err := m.str("jwks_uri")
	if err != nil {
		return bad(RuleNotJSON, "%v", err)
	}
	if ok {
		if why, good := checkHTTPSURL(jwksURI, lim.maxURLLength, false); !good {
			return bad(RuleMetadataURI, "jwks_uri: %s", why)
		}
		c.jwksURI = jwksURI
	}
	if c.jwks != nil && c.jwksURI != "" {
		return bad(RuleKeysConflict, "the document has both jwks and jwks_uri (RFC 7591 §2)")
	}

	if c.authMethod, err = authMethod(m, c.jwks != nil || c.jwksURI != ""); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.ClientID = cut(clientID, 256)
			return nil, e
		}
		return bad(RuleNotJSON, "%v", err)
	}

	if c.grantTypes, err = grantTypes(m, c.authMethod); err != nil {
		return bad(RuleGrantTypes, "%v", err)
	}

	// OAuth 2.1 has one response type. A client that also lists others (an old "token") still
	// gets only code; one that does not list code at all cannot use this server.
	rts, ok, err := m.strs("response_types")
	switch {
	case err != nil:
		return bad(RuleNotJSON, "%v", err)
	case ok && len(rts) > 0 && !slices.Contains(rts, "code"):
		return bad(RuleResponseTypes, "response_types does not include code")
	}
	c.responseTypes = []string{"code"}

	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"client_uri", &c.clientURI}, {"logo_uri", &c.logoURI}, {"tos_uri", &c.tosURI}, {"policy_uri", &c.policyURI},
	} {
		v, ok, err := m.str(f.name)
		if err != nil {
			return bad(RuleNotJSON, "%v", err)
		}
		if !ok {
			continue
		}
		if why, good := checkHTTPSURL(v, lim.maxURLLength, true); !good {
			return bad(RuleMetadataURI, "%s: %s", f.name, why)
		}
		*f.dst = v
	}

	scope, _, err := m.str("scope")
	switch {
	case err != nil:
		return bad(RuleNotJSON, "%v", err)
	case len(scope) > maxScopeBytes:
		return bad(RuleScope, "scope is longer than %d bytes", maxScopeBytes)
	case !validScope(scope):
		return bad(RuleScope, "scope is not space-separated scope tokens (RFC 6749 §3.3)")
	}
	c.scope = scope

	c.fingerprint = fingerprint(c, thumbprints)
	return c, nil
}

// authMethod decides the token endpoint authentication method (CIMD §4.1: none, or
// private_key_jwt with keys; shared secrets are forbidden).
//
// token_endpoint_auth_method, if present, decides. Some clients publish the list
// token_endpoint_auth_methods_supported instead (a server metadata field, misplaced); we read it
// as "any of these will do" and take private_key_jwt if it is listed and the document has keys,
// else none if it is listed, and refuse otherwise. With neither field, RFC 7591's default of
// client_secret_basic cannot apply to a document without a secret, so we take private_key_jwt
// when the document has keys and none when it has not.
func authMethod(m members, hasKeys bool) (string, error) {
	decide := func(method string) (string, error) {
		switch method {
		case authNone:
			return authNone, nil
		case authPrivateKeyJWT:
			if !hasKeys {
				return "", &Error{Rule: RuleKeysMissing, Detail: "private_key_jwt needs jwks or jwks_uri"}
			}
			return authPrivateKeyJWT, nil
		case "client_secret_basic", "client_secret_post", "client_secret_jwt":
			return "", &Error{Rule: RuleAuthMethodForbidden, Detail: fmt.Sprintf("%s needs a shared secret, which a public document cannot hold (CIMD §4.1)", method)}
		}
		return "", &Error{Rule: RuleAuthMethodUnknown, Detail: fmt.Sprintf("token_endpoint_auth_method %q is not supported; use none or private_key_jwt", cut(method, 50))}
	}

	method, ok, err := m.str("token_endpoint_auth_method")
	if err != nil {
		return "", err
	}
	if ok {
		return decide(method)
	}
	supported, ok, err := m.strs("token_endpoint_auth_methods_supported")
	if err != nil {
		return "", err
	}
	switch {
	case !ok:
		if hasKeys {
			return authPrivateKeyJWT, nil
		}
		return authNone, nil
	case slices.Contains(supported, authPrivateKeyJWT) && hasKeys:
		return authPrivateKeyJWT, nil
	case slices.Contains(supported, authNone):
		return authNone, nil
	case slices.Contains(supported, authPrivateKeyJWT):
		return decide(authPrivateKeyJWT)
	case len(supported) > 0:
		return decide(supported[0])
	}
	return "", &Error{Rule: RuleAuthMethodUnknown, Detail: "token_endpoint_auth_methods_supported is empty"}
}

// grantTypes keeps the declared grant types this server allows a CIMD client, ignoring the rest
// rather than failing: public clients in the wild list jwt-bearer or device_code they will
// never use here. jwt-bearer (ID-JAG) is kept only for private_key_jwt clients, because that
// grant is for confidential clients only.
func grantTypes(m members, method string) ([]string, error) {
	declared, ok, err := m.strs("grant_types")
	if err != nil {
		return nil, err
	}
	if !ok || len(declared) == 0 {
		declared = []string{grantAuthorizationCode} // RFC 7591 §2 default
	}
	var kept []string
	for _, g := range declared {
		allowed := g == grantAuthorizationCode || g == grantRefreshToken ||
			(g == grantJWTBearer && method == authPrivateKeyJWT)
		if allowed && !slices.Contains(kept, g) {
			kept = append(kept, g)
		}
	}
	if !slices.Contains(kept, grantAuthorizationCode) && !slices.Contains(kept, grantJWTBearer) {
		return nil, fmt.Errorf("grant_types lists no grant a client ID metadata document client may use here (authorization_code)")
	}
	return kept, nil
}

// parseJWKS validates an inline key set and returns it re-encoded with only its usable keys,
// and the keys' RFC 7638 thumbprints. Private key material anywhere is an error (a key set in a
// public document that holds a private key has leaked it); keys of a type we do not know, or
// marked for encryption, are skipped as RFC 7517 §5 asks.
func parseJWKS(raw json.RawMessage) (json.RawMessage, []string, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, nil, errors.New("not a JWK set object")
	}
	if len(set.Keys) == 0 {
		return nil, nil, errors.New("no keys")
	}
	if len(set.Keys) > maxKeys {
		return nil, nil, fmt.Errorf("%d keys, at most %d", len(set.Keys), maxKeys)
	}
	var keys []jose.JSONWebKey
	var thumbs []string
	for i, kraw := range set.Keys {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(kraw, &members); err != nil {
			return nil, nil, fmt.Errorf("key %d is not an object", i)
		}
		for _, p := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "priv", "oth"} {
			if _, ok := members[p]; ok {
				return nil, nil, fmt.Errorf("key %d holds private or symmetric key material (%q)", i, p)
			}
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(kraw); err != nil {
			if errors.Is(err, jose.ErrUnsupportedKeyType) {
				continue
			}
			return nil, nil, fmt.Errorf("key %d: %s", i, cut(err.Error(), 120))
		}
		if !k.IsPublic() || !k.Valid() {
			return nil, nil, fmt.Errorf("key %d is not a valid public key", i)
		}
		if rk, ok := k.Key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			return nil, nil, fmt.Errorf("key %d: RSA key of %d bits, at least %d", i, rk.N.BitLen(), minRSABits)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, nil, fmt.Errorf("key %d: no thumbprint", i)
		}
		keys = append(keys, k)
		thumbs = append(thumbs, base64.RawURLEncoding.EncodeToString(tp))
	}
	if len(keys) == 0 {
		return nil, nil, errors.New("no usable signing key")
	}
	out, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		return nil, nil, fmt.Errorf("re-encoding: %w", err)
	}
	return out, thumbs, nil
}

// fingerprint hashes what a consent depends on: where codes go, who may authenticate as the
// client, and how.
func fingerprint(c *Client, thumbprints []string) string {
	h := sha256.New()
	write := func(tag string, vals ...string) {
		_, _ = io.WriteString(h, tag)
		for _, v := range vals {
			_, _ = io.WriteString(h, "\x00"+v)
		}
		_, _ = io.WriteString(h, "\x01")
	}
	redirects := slices.Clone(c.redirectURIs)
	slices.Sort(redirects)
	redirects = slices.Compact(redirects)
	thumbs := slices.Clone(thumbprints)
	slices.Sort(thumbs)
	write("redirect_uris", redirects...)
	write("keys", thumbs...)
	write("jwks_uri", c.jwksURI)
	write("auth", c.authMethod)
	return hex.EncodeToString(h.Sum(nil))
}

// hiddenRune reports control characters and invisible formatting characters (Cc, Cf: bidi
// overrides, zero-width joiners), and the replacement character that stands for invalid UTF-8.
func hiddenRune(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError
}

// validScope accepts "" or scope tokens (%x21 / %x23-5B / %x5D-7E) separated by single spaces.
func validScope(s string) bool {
	if s == "" {
		return true
	}
	for tok := range strings.SplitSeq(s, " ") {
		if tok == "" {
			return false
		}
		for _, c := range []byte(tok) {
			if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return false
			}
		}
	}
	return true
}

// members is a JSON object's members by exact name.
type members map[string]json.RawMessage

// parseMembers reads exactly one JSON object. Unlike encoding/json's struct decoding it matches
// member names exactly (not case-insensitively) and refuses duplicate names, so that what we
// validate is what any other JSON parser would read.
func parseMembers(data []byte) (members, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := members{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("malformed JSON object")
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("malformed JSON object")
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", cut(name, 50))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("malformed value of %q", cut(name, 50))
		}
		m[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("malformed JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// str reads a string member. A missing or null member is absent.
func (m members) str(name string) (string, bool, error) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("%s: want a string", name)
	}
	return s, true, nil
}

// strs reads an array-of-strings member. A missing or null member is absent.
func (m members) strs(name string) ([]string, bool, error) {
	raw, ok := m[name]
	if !ok || isNull(raw) {
		return nil, false, nil
	}
	var ss []string
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, true, fmt.Errorf("%s: want an array of strings", name)
	}
	return ss, true, nil
}
