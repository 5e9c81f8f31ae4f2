package oauth

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
)

// metadata is RFC 8414 §2 authorization server metadata. Everything listed is true of this
// server: a client that believes it will not be surprised.
type metadata struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	// RFC 7591: only when dynamic registration is switched on.
	RegistrationEndpoint                      string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                           []string `json:"scopes_supported"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	ResponseModesSupported                    []string `json:"response_modes_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	// RFC 9207 §3: we send iss on every authorization response.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
	// CIMD §5 (draft-ietf-oauth-client-id-metadata-document).
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported"`
	// OpenID discovery fields that are true of us too; we issue no ID tokens, so none of those.
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	// RFC 9068: access tokens are JWTs signed with ES256.
	AccessTokenSigningAlgValuesSupported []string `json:"access_token_signing_alg_values_supported,omitempty"`
	PromptValuesSupported                []string `json:"prompt_values_supported"`
	// draft-ietf-oauth-identity-assertion-authz-grant: ID-JAG accepted with jwt-bearer.
	AuthorizationGrantProfilesSupported []string `json:"authorization_grant_profiles_supported,omitempty"`
}

func (p *Provider) buildMetadata(cimd, idjag bool) ([]byte, error) {
	grantTypes := []string{"authorization_code", "refresh_token"}
	if cs, ok := p.clients.(interface{ MayUseClientCredentials() bool }); ok && cs.MayUseClientCredentials() {
		grantTypes = append(grantTypes, "client_credentials")
	}
	var profiles []string
	if idjag {
		grantTypes = append(grantTypes, GrantTypeJWTBearer)
		profiles = []string{IDJAGProfile}
	}
	scopes := []string{}
	for _, r := range p.resources.All() {
		for _, s := range r.Scopes {
			if !slices.Contains(scopes, s.Name) {
				scopes = append(scopes, s.Name)
			}
		}
	}
	scopes = append(scopes, OfflineAccess)
	registration := ""
	if p.registrar != nil {
		registration = p.issuer + "/register"
	}
	m := metadata{
		RegistrationEndpoint:              registration,
		Issuer:                            p.issuer,
		AuthorizationEndpoint:             p.issuer + "/authorize",
		TokenEndpoint:                     p.issuer + "/token",
		JWKSURI:                           p.issuer + "/jwks.json",
		IntrospectionEndpoint:             p.issuer + "/introspect",
		RevocationEndpoint:                p.issuer + "/revoke",
		ScopesSupported:                   scopes,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               grantTypes,
		TokenEndpointAuthMethodsSupported: []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: jwtverify.DefaultAlgorithms(),
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		RevocationEndpointAuthMethodsSupported:     []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
		ClientIDMetadataDocumentSupported:          cimd,
		SubjectTypesSupported:                      []string{"public"},
		AccessTokenSigningAlgValuesSupported:       []string{"ES256"},
		PromptValuesSupported:                      []string{"none", "login", "consent"},
		AuthorizationGrantProfilesSupported:        profiles,
	}
	return json.Marshal(m)
}

// metadataPaths are where clients look for our metadata. For an issuer with a path, RFC 8414
// §3.1 inserts the well-known segment before the path; OpenID Connect Discovery §4 appends it;
// MCP clients try both forms of both (MCP authorization, "Authorization Server Metadata
// Discovery").
func (p *Provider) metadataPaths() []string {
	if p.basePath == "" {
		return []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}
	}
	return []string{
		"/.well-known/oauth-authorization-server" + p.basePath,
		"/.well-known/openid-configuration" + p.basePath,
		p.basePath + "/.well-known/openid-configuration",
	}
}

func (p *Provider) handleMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*") // browser-based MCP clients discover us too
	if p.acceptsAssertions() {
		_, _ = w.Write(p.metadataIDJAG)
		return
	}
	_, _ = w.Write(p.metadata)
}

// handleJWKS publishes the signing keys. Caching is short, so that a rotation is seen quickly;
// resource servers also re-fetch on an unknown kid.
func (p *Provider) handleJWKS(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(p.signer.JWKS())
}
