package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// The example file documents every key; it must stay loadable.
func TestExampleFileLoads(t *testing.T) {
	c, err := Load("../mcp-authz.example.yaml", env(map[string]string{"MCP_AUTHZ_SECRET": strings.Repeat("x", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://auth.example.com" || len(c.Resources) != 1 || len(c.Clients) != 2 {
		t.Errorf("loaded %+v", c)
	}
	if c.Resources[0].AccessTokenLifetime.D() != 5*time.Minute || c.Tokens.RefreshGracePeriod.D() != 10*time.Second {
		t.Errorf("durations: %v %v", c.Resources[0].AccessTokenLifetime, c.Tokens.RefreshGracePeriod)
	}
}

func TestDefaultIsTheDevelopmentSetup(t *testing.T) {
	c, err := Default(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "http://localhost:8080" || c.Listen != "127.0.0.1:8080" || !c.Development ||
		c.Storage.SQLitePath != filepath.Join("mcp-authz-data", "mcp-authz.db") || len(c.Resources) != 1 {
		t.Errorf("default: %+v", c)
	}
	c, err = Default(env(map[string]string{"MCP_AUTHZ_LISTEN": "127.0.0.1:9999", "MCP_AUTHZ_ISSUER": "http://127.0.0.1:9999"}))
	if err != nil || c.Listen != "127.0.0.1:9999" || c.Issuer != "http://127.0.0.1:9999" {
		t.Errorf("env override: %v %+v", err, c)
	}
}

func TestValidationRefuses(t *testing.T) {
	secret := strings.Repeat("k", 40)
	cases := map[string]struct {
		yaml string
		want string
	}{
		"plain http on a public host":  {"issuer: http://auth.example.com\nresources: [{uri: https://a.example/mcp}]", "loopback"},
		"issuer with query":            {"issuer: https://a.example/?x=1\nresources: [{uri: https://a.example/mcp}]", "query"},
		"no resources":                 {"issuer: https://a.example", "at least one"},
		"resource with fragment":       {"issuer: https://a.example\nresources: [{uri: 'https://a.example/mcp#x'}]", "fragment"},
		"relative resource":            {"issuer: https://a.example\nresources: [{uri: /mcp}]", "absolute"},
		"default scope not declared":   {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp, default_scopes: [x]}]", "not one of its scopes"},
		"bad scope token":              {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp, scopes: [{name: 'a b'}]}]", "scope token"},
		"unknown key":                  {"issuer: https://a.example\nresourcez: []", "resourcez"},
		"code lifetime too long":       {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\ntokens: {authorization_code_lifetime: 11m}", "10m"},
		"bad duration":                 {"issuer: https://a.example\ntokens: {access_token_lifetime: soon}", "duration"},
		"http redirect on public host": {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\nclients: [{id: c, redirect_uris: ['http://evil.example/cb']}]", "loopback"},
		"url client id":                {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\nclients: [{id: 'https://c.example/m', redirect_uris: ['https://c.example/cb']}]", "metadata document"},
		"client_credentials public":    {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\nclients: [{id: m, grant_types: [client_credentials]}]", "confidential"},
		"bad secret hash":              {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\nclients: [{id: m, secret_hash: plain, grant_types: [client_credentials]}]", "sha256"},
		"unknown client resource":      {"issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\nclients: [{id: m, redirect_uris: ['https://c.example/cb'], resources: [https://b.example/mcp]}]", "not a declared resource"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, env(map[string]string{"MCP_AUTHZ_SECRET": secret}))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error mentioning %q", err, c.want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	base := "issuer: https://a.example\nresources: [{uri: https://a.example/mcp}]\n"
	os.WriteFile(path, []byte(base), 0o600)
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), "no server secret") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := Load(path, env(map[string]string{"MCP_AUTHZ_SECRET": "short"})); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short secret: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "secret"), []byte(strings.Repeat("z", 40)+"\n"), 0o600)
	os.WriteFile(path, []byte(base+"secrets: {key_file: secret}\n"), 0o600)
	c, err := Load(path, env(nil))
	if err != nil || string(c.Secrets.Key) != strings.Repeat("z", 40) {
		t.Errorf("key_file relative to the config: %v", err)
	}
}
