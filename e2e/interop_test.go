package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/mcp-authz/mcp-authz/config"
)

// The tests in this file run real Node clients against the real authorization server and the
// example MCP server: the official MCP TypeScript SDK (v1, @modelcontextprotocol/sdk, and v2,
// @modelcontextprotocol/client) and panva's openid-client. The scripts live in interop/, with
// their packages pinned in interop/package-lock.json (installed by `npm ci --prefix interop`;
// .ci/run does it). Without node or interop/node_modules the tests skip, except in CI
// (CI=true), where they fail.
//
// A script speaks a line protocol on stdout (interop/lib/harness.mjs): when its client wants
// the user to authorize, it prints the authorization URL; the test plays the user in the
// harness browser (the real login and consent forms, no shortcut in the server) and follows the
// final redirect to the client's loopback receiver, as a browser would. The script reports
// each of its assertions as a check, which the test turns into test failures.

const (
	interopMachineClient = "interop-machine" // client_credentials, private_key_jwt
	interopRPClient      = "interop-rp"      // openid-client: code, refresh, client_credentials; private_key_jwt
)

// interopDir is interop/ if node and its installed packages are there. Otherwise it skips the
// test, or fails it in CI.
func interopDir(t *testing.T) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "interop"))
	if err != nil {
		t.Fatal(err)
	}
	var missing string
	if node, err = exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else {
		for _, pkg := range []string{"@modelcontextprotocol/sdk", "@modelcontextprotocol/client", "openid-client", "playwright-core"} {
			if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
				missing = "interop/node_modules lacks " + pkg + " (run: npm ci --prefix interop)"
				break
			}
		}
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("interop test cannot run in CI: %s", missing)
		}
		t.Skipf("skipping the interop test: %s", missing)
	}
	return node, dir
}

// nodeEvent is one line a script prints.
type nodeEvent struct {
	Event   string          `json:"event"`
	URL     string          `json:"url"`
	Name    string          `json:"name"`
	OK      bool            `json:"ok"`
	Detail  json.RawMessage `json:"detail"`
	Msg     string          `json:"msg"`
	Message string          `json:"message"`
	Stack   string          `json:"stack"`
	Failed  int             `json:"failed"`
	Data    json.RawMessage `json:"data"`
}

// nodeRun is what a script did.
type nodeRun struct {
	passed  []string        // names of the checks that passed
	auths   []outcome       // each authorization the user went through
	report  json.RawMessage // the last "report" event's data
	elapsed time.Duration
}

// runNode runs interop/<script> with env and plays the user for it. It fails the test for every
// failed check, an exception, or a non-zero exit.
func runNode(t *testing.T, as *testServer, script string, env map[string]string) *nodeRun {
	t.Helper()
	node, dir := interopDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel() // also ends the script if the test stops early
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	run := &nodeRun{}
	b := newBrowser(t)
	done := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var ev nodeEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Logf("%s: %s", script, sc.Text())
			continue
		}
		switch ev.Event {
		case "authorize":
			if !strings.HasPrefix(ev.URL, as.issuer+"/") {
				t.Errorf("%s: the client sent the user to %s, not to the issuer %s", script, ev.URL, as.issuer)
				cancel()
				continue
			}
			out := b.authorize(as, ev.URL, "allow")
			run.auths = append(run.auths, out)
			if out.redirect == nil {
				t.Errorf("%s: authorization ended on one of our pages: %d %.400s", script, out.last.status, out.last.body)
				cancel()
				continue
			}
			// The browser follows the redirect to the client's loopback receiver.
			if out.redirect.Scheme != "http" || out.redirect.Hostname() != "127.0.0.1" {
				t.Errorf("%s: redirect to %s, want the client's loopback receiver", script, out.redirect)
				cancel()
				continue
			}
			resp, err := http.Get(out.redirect.String())
			if err != nil {
				t.Errorf("%s: delivering the redirect: %v", script, err)
				cancel()
				continue
			}
			resp.Body.Close()
		case "check":
			if ev.OK {
				run.passed = append(run.passed, ev.Name)
				t.Logf("ok   %s", ev.Name)
			} else {
				t.Errorf("FAIL %s: %s", ev.Name, ev.Detail)
			}
		case "log":
			t.Logf("log  %s", ev.Msg)
		case "error":
			t.Errorf("%s threw: %s\n%s", script, ev.Message, ev.Stack)
		case "report":
			run.report = ev.Data
		case "done":
			done = true
		}
	}
	err = cmd.Wait()
	run.elapsed = time.Since(start)
	if err != nil {
		t.Errorf("node %s: %v\nstderr:\n%s", script, err, stderr.String())
	} else if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("%s stderr:\n%s", script, s)
	}
	if !done {
		t.Errorf("%s did not finish", script)
	}
	t.Logf("%s ran in %v: %d checks passed, %d authorizations", script, run.elapsed.Round(time.Millisecond), len(run.passed), len(run.auths))
	return run
}

// requireChecks fails the test if a check the script must make is missing from what passed.
func (r *nodeRun) requireChecks(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if !slices.Contains(r.passed, n) {
			t.Errorf("check %q did not pass (or was not made)", n)
		}
	}
}

// interopEnv is the authorization server with the example MCP server beside it, a document
// host for CIMD clients, and the pre-registered private_key_jwt clients.
type interopEnv struct {
	pair *mcpPair
	docs *docHost
	env  map[string]string
}

// startInterop starts everything a script needs; the CIMD client is published at docPath.
func startInterop(t *testing.T, docPath, clientName string) *interopEnv {
	t.Helper()
	interopDir(t) // skip before starting anything
	docs := newDocHost(t)
	doc := clientDoc("http://127.0.0.1/callback")
	doc["client_name"] = clientName
	cimdID := docs.put(docPath, doc)
	machine := newMachineKey(t)
	rp := newMachineKey(t)
	trust := docs.trust(t)
	pair := startMCPPair(t, func(c *config.Config) {
		trust(c)
		c.Clients = append(c.Clients,
			config.Client{ID: interopMachineClient, Name: "Interop machine client", GrantTypes: []string{"client_credentials"},
				JWKS: machine.jwks(t), Scopes: []string{"mcp:tools"}},
			config.Client{ID: interopRPClient, Name: "Interop relying party", RedirectURIs: []string{"http://127.0.0.1/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, JWKS: rp.jwks(t)},
		)
	})
	return &interopEnv{pair: pair, docs: docs, env: map[string]string{
		"ISSUER":              pair.as.issuer,
		"MCP_URL":             pair.url,
		"CIMD_CLIENT_ID":      cimdID,
		"MACHINE_CLIENT_ID":   interopMachineClient,
		"MACHINE_PRIVATE_JWK": privateJWK(t, machine),
		"RP_CLIENT_ID":        interopRPClient,
		"RP_PRIVATE_JWK":      privateJWK(t, rp),
		"PUBLIC_CLIENT_ID":    publicClient,
		"NODE_OPTIONS":        "--no-deprecation",
	}}
}

// privateJWK is the private key as a JWK, for the Node side.
func privateJWK(t *testing.T, k machineKey) string {
	b, err := json.Marshal(jose.JSONWebKey{Key: k.priv, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// consentShownFor reports whether the first authorization showed the consent page for the CIMD
// client, its host before its self-asserted name.
func consentShownFor(t *testing.T, r *nodeRun, host, name string) {
	t.Helper()
	if len(r.auths) == 0 || !r.auths[0].consentShown {
		t.Fatalf("the user was not asked for consent")
	}
	page := r.auths[0].consentHTML
	if h, n := strings.Index(page, host), strings.Index(page, name); h < 0 || n < 0 || h > n {
		t.Errorf("consent page: client host at %d, name at %d; the host must come first", h, n)
	}
}

func TestInteropMCPTypeScriptSDKv1(t *testing.T) {
	e := startInterop(t, "/clients/ts-sdk-v1.json", "Interop MCP client (TypeScript SDK v1)")
	r := runNode(t, e.pair.as, "mcp-sdk-v1.mjs", e.env)
	r.requireChecks(t,
		"authorization request: client_id is the metadata document URL",
		"authorization request: PKCE S256",
		"authorization request: resource is the MCP server",
		"authorization: iss equals the issuer (RFC 9207)",
		"access token: aud is the MCP server, client_id the document URL",
		"whoami: the user, the CIMD client, mcp:tools",
		"step-up: 403 insufficient_scope leads to a new authorization",
		"whoami after step-up: mcp:tools and mcp:admin",
		"refresh on 401: new access token and rotated refresh token",
		"client credentials (private_key_jwt): whoami is the machine client",
	)
	consentShownFor(t, r, e.docs.target.Addr(), "Interop MCP client (TypeScript SDK v1)")
	if len(r.auths) != 2 || !r.auths[1].consentShown || !strings.Contains(r.auths[1].consentHTML, "Already granted: mcp:tools") {
		t.Errorf("want 2 authorizations, the second a step-up consent for mcp:admin only (got %d)", len(r.auths))
	}
}

func TestInteropMCPTypeScriptClientV2(t *testing.T) {
	e := startInterop(t, "/clients/ts-client-v2.json", "Interop MCP client (TypeScript SDK v2)")
	r := runNode(t, e.pair.as, "mcp-client-v2.mjs", e.env)
	r.requireChecks(t,
		"authorization request: client_id is the metadata document URL",
		"authorization request: PKCE S256",
		"authorization request: resource is the MCP server",
		"SDK refuses a callback with a wrong iss",
		"SDK refuses a callback without iss (the server advertises it)",
		"authorization: SDK accepted iss and redeemed the code",
		"access token: aud is the MCP server, client_id the document URL",
		"whoami: the user, the CIMD client, mcp:tools",
		"step-up: 403 insufficient_scope leads to a new authorization",
		"whoami after step-up: mcp:tools and mcp:admin",
		"refresh on 401: new access token and rotated refresh token",
		"client credentials (private_key_jwt): whoami is the machine client",
	)
	consentShownFor(t, r, e.docs.target.Addr(), "Interop MCP client (TypeScript SDK v2)")
	if len(r.auths) != 2 || !r.auths[1].consentShown || !strings.Contains(r.auths[1].consentHTML, "Already granted: mcp:tools") {
		t.Errorf("want 2 authorizations, the second a step-up consent for mcp:admin only (got %d)", len(r.auths))
	}
}

func TestInteropOpenIDClient(t *testing.T) {
	e := startInterop(t, "/clients/unused.json", "unused")
	r := runNode(t, e.pair.as, "openid-client.mjs", e.env)
	r.requireChecks(t,
		"discovery (openid-configuration): issuer and endpoints",
		"discovery (oauth-authorization-server, RFC 8414): same document",
		"confidential code flow: openid-client refuses a wrong iss",
		"confidential code flow: openid-client refuses no iss",
		"confidential code flow: access token audience and client",
		"confidential code flow: the token works at the MCP server",
		"refresh: new access token, rotated refresh token, same audience and scope",
		"introspection (private_key_jwt): access token active, with its claims",
		"revocation (private_key_jwt) of the refresh token revokes the grant",
		"client credentials (private_key_jwt): token for the client itself, no refresh token",
		"revocation of an access token",
		"public code flow: access token audience and client",
		"public revocation (auth method none): the refresh token is dead",
	)
	if len(r.auths) != 2 || !r.auths[0].consentShown || !r.auths[1].consentShown {
		t.Errorf("want 2 authorizations, each with a consent page (two clients)")
	}
}
