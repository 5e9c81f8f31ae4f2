package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const upstreamBase = `issuer: https://a.example
resources:
  - uri: https://a.example/mcp
    scopes: [{name: "mcp:tools"}, {name: "mcp:admin"}]
`

func loadYAML(t *testing.T, yaml string, vars map[string]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "corp-secret"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{"MCP_AUTHZ_SECRET": strings.Repeat("k", 40)}
	for k, v := range vars {
		m[k] = v
	}
	return Load(path, env(m))
}

func TestUpstreamProviderDefaultsAndSecrets(t *testing.T) {
	c, err := loadYAML(t, upstreamBase+`
login: {local_accounts: false}
upstream_providers:
  - id: corp
    issuer: https://idp.example.com
    client_id: mcp-authz
    client_secret_env: CORP_SECRET
    allowed_email_domains: [Example.COM]
    policy: [{resources: ["*"], scopes: ["*"]}]
  - id: other
    name: Other IdP
    issuer: https://other.example.com/tenant
    client_id: x
    client_secret_file: corp-secret
    scopes: [email, groups]
    claims: {subject: oid, groups: realm_access.roles}
    policy:
      - {groups: [admins], resources: [https://a.example/mcp], scopes: ["mcp:admin"]}
      - {claim: department, values: [eng], resources: ["*"], scopes: ["mcp:tools"]}
`, map[string]string{"CORP_SECRET": "from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalAccountsEnabled() {
		t.Error("local_accounts: false is not honoured")
	}
	corp, other := c.UpstreamProviders[0], c.UpstreamProviders[1]
	if corp.ClientSecret != "from-env" || other.ClientSecret != "from-file" {
		t.Errorf("secrets %q %q", corp.ClientSecret, other.ClientSecret)
	}
	if corp.Name != "corp" || !slices.Equal(corp.Scopes, []string{"openid", "email", "profile"}) ||
		corp.Claims != (UpstreamClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"}) ||
		!slices.Equal(corp.AllowedEmailDomains, []string{"example.com"}) {
		t.Errorf("corp defaults: %+v", corp)
	}
	if !slices.Equal(other.Scopes, []string{"openid", "email", "groups"}) || other.Claims.Subject != "oid" || other.Claims.Email != "email" {
		t.Errorf("other: %+v", other)
	}
	if c2, err := loadYAML(t, upstreamBase, nil); err != nil || !c2.LocalAccountsEnabled() {
		t.Errorf("local accounts are on by default: %v", err)
	}
}

func TestUpstreamProviderValidation(t *testing.T) {
	provider := func(extra string) string {
		return upstreamBase + "upstream_providers:\n  - id: corp\n    issuer: https://idp.example.com\n    client_id: c\n" + extra
	}
	allowAll := "    policy: [{resources: [\"*\"], scopes: [\"*\"]}]\n"
	cases := map[string]struct{ yaml, want string }{
		"no sign-in at all":     {upstreamBase + "login: {local_accounts: false}\n", "nobody can sign in"},
		"inline secret":         {provider(allowAll + "    client_secret: s\n"), "client_secret"},
		"empty env secret":      {provider(allowAll + "    client_secret_env: NOT_SET\n"), "NOT_SET is empty"},
		"env and file":          {provider(allowAll + "    client_secret_env: A\n    client_secret_file: corp-secret\n"), "exclusive"},
		"missing secret file":   {provider(allowAll + "    client_secret_file: nope\n"), "client_secret_file"},
		"http issuer":           {strings.Replace(provider(allowAll), "https://idp", "http://idp", 1), "https URL"},
		"bad id":                {strings.Replace(provider(allowAll), "id: corp", "id: Corp/1", 1), "a-z"},
		"no client id":          {strings.Replace(provider(allowAll), "client_id: c", "client_id: ''", 1), "client_id is required"},
		"no policy":             {provider(""), "at least one rule"},
		"rule without scopes":   {provider("    policy: [{groups: [g], resources: [\"*\"]}]\n"), "resources and scopes are required"},
		"claim without values":  {provider("    policy: [{claim: dept, resources: [\"*\"], scopes: [\"*\"]}]\n"), "claim and values go together"},
		"undeclared resource":   {provider("    policy: [{resources: [https://b.example/mcp], scopes: [\"*\"]}]\n"), "not a declared resource"},
		"scope nobody offers":   {provider("    policy: [{resources: [\"*\"], scopes: [\"mcp:root\"]}]\n"), "not a scope of the rule's resources"},
		"email address domain":  {provider(allowAll + "    allowed_email_domains: [a@example.com]\n"), "not a domain"},
		"duplicate provider id": {provider(allowAll) + "  - {id: corp, issuer: https://x.example, client_id: c, policy: [{resources: [\"*\"], scopes: [\"*\"]}]}\n", "declared twice"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := loadYAML(t, c.yaml, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

// The example file's provider documents every key; it loads with the defaults filled in.
func TestExampleUpstreamProvider(t *testing.T) {
	c, err := Load("../mcp-authz.example.yaml", env(map[string]string{"MCP_AUTHZ_SECRET": strings.Repeat("x", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.UpstreamProviders) != 1 || !c.LocalAccountsEnabled() {
		t.Fatalf("upstream providers %+v, local accounts %v", c.UpstreamProviders, c.LocalAccountsEnabled())
	}
	p := c.UpstreamProviders[0]
	if p.ID != "corp" || p.ClientSecret != "" || len(p.Policy) != 3 || p.Claims.Subject != "sub" || p.Policy[2].Claim != "department" {
		t.Errorf("example provider %+v", p)
	}
}
