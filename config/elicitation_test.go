package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadElicitationYAML(t *testing.T, yaml string, environ map[string]string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if environ == nil {
		environ = map[string]string{}
	}
	environ["MCP_AUTHZ_SECRET"] = strings.Repeat("k", 40)
	return Load(path, env(environ))
}

const elicitationBase = "issuer: https://a.example\nresources: [{uri: https://a.example/mcp, elicitation_clients: [rs]}]\n"

func TestElicitationSettings(t *testing.T) {
	c, err := loadElicitationYAML(t, elicitationBase+`elicitation:
  providers:
    - id: cloud
      authorization_endpoint: https://c.example/authorize
      token_endpoint: https://c.example/token
      client_id: mcp-authz
      client_secret_env: CLOUD_SECRET
      scopes: [profile]
    - id: public
      authorization_endpoint: https://p.example/authorize
      token_endpoint: https://p.example/token
      client_id: mcp-authz
`, map[string]string{"CLOUD_SECRET": "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Elicitation
	if e.DefaultLifetime.D() != 10*time.Minute || e.MaxLifetime.D() != time.Hour {
		t.Errorf("lifetimes %v %v", e.DefaultLifetime, e.MaxLifetime)
	}
	if p := e.Providers[0]; p.ClientSecret != "s3cret" || p.TokenEndpointAuthMethod != "client_secret_basic" || p.Name != "cloud" {
		t.Errorf("provider with a secret: %+v", p)
	}
	if p := e.Providers[1]; p.ClientSecret != "" || p.TokenEndpointAuthMethod != "none" {
		t.Errorf("provider without a secret: %+v", p)
	}
	if c.Resources[0].ElicitationClients[0] != "rs" {
		t.Errorf("elicitation_clients %v", c.Resources[0].ElicitationClients)
	}
}

func TestElicitationValidationRefuses(t *testing.T) {
	provider := func(extra string) string {
		return elicitationBase + "elicitation:\n  providers:\n    - {id: cloud, authorization_endpoint: 'https://c.example/a', token_endpoint: 'https://c.example/t', client_id: x" + extra + "}\n"
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"http callback":         {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp, elicitation_clients: [rs], elicitation_callback: 'http://rs.example/cb'}]", "elicitation_callback"},
		"callback, no clients":  {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp, elicitation_callback: 'https://rs.example/cb'}]", "needs elicitation_clients"},
		"empty client":          {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp, elicitation_clients: ['']}]", "empty client_id"},
		"lifetime too short":    {elicitationBase + "elicitation: {default_lifetime: 30s}", "default_lifetime"},
		"default above max":     {elicitationBase + "elicitation: {default_lifetime: 2h, max_lifetime: 1h}", "default_lifetime"},
		"bad provider id":       {strings.Replace(provider(""), "id: cloud", "id: 'Cloud Drive'", 1), "a-z"},
		"http token endpoint":   {strings.Replace(provider(""), "https://c.example/t", "http://c.example/t", 1), "token_endpoint"},
		"no client id":          {strings.Replace(provider(""), ", client_id: x", "", 1), "client_id is required"},
		"unset secret variable": {provider(", client_secret_env: NOPE"), "NOPE is not set"},
		"basic without secret":  {provider(", token_endpoint_auth_method: client_secret_basic"), "needs a client secret"},
		"http issuer":           {provider(", issuer: 'http://c.example'"), "issuer"},
		"http revocation":       {provider(", revocation_endpoint: 'http://c.example/r'"), "revocation_endpoint"},
		"issuer with query":     {provider(", issuer: 'https://c.example?x=1'"), "issuer"},
		"unknown auth method":   {provider(", token_endpoint_auth_method: private_key_jwt"), "not supported"},
		"missing secret file":   {provider(", client_secret_file: nope.txt"), "client_secret_file"},
		"duplicate provider":    {provider("") + "    - {id: cloud, authorization_endpoint: 'https://c.example/a', token_endpoint: 'https://c.example/t', client_id: x}\n", "declared twice"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadElicitationYAML(t, c.yaml, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}
