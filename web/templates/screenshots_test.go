package templates

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

// TestScreenshots renders every page with sample data into HTML files beside a copy of the
// stylesheet, and, when chromium is installed, takes a screenshot of each, so the pages can be
// looked at. It only runs with MCP_AUTHZ_SCREENSHOTS=1; the files go to
// MCP_AUTHZ_SCREENSHOTS_DIR (default: a directory under the system temp directory).
//
//	MCP_AUTHZ_SCREENSHOTS=1 go test ./web/templates -run Screenshots -v
func TestScreenshots(t *testing.T) {
	if os.Getenv("MCP_AUTHZ_SCREENSHOTS") != "1" {
		t.Skip("set MCP_AUTHZ_SCREENSHOTS=1 to render the pages to files")
	}
	dir := os.Getenv("MCP_AUTHZ_SCREENSHOTS_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mcp-authz-pages")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	css, err := os.ReadFile(filepath.Join("..", "static", "style.css"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "style.css"), css, 0o644); err != nil {
		t.Fatal(err)
	}

	localhost := sampleConsent()
	localhost.ClientName = "Claude Desktop"
	localhost.ClientID = "https://claude.ai/oauth/mcp-client-metadata.json"
	localhost.ClientHost = "claude.ai"
	localhost.ClientHostTrusted = true
	localhost.LocalhostRedirect = true
	localhost.RedirectHost = "127.0.0.1:53682"
	localhost.Resources = append(localhost.Resources, ResourceView{
		URI:  "https://mcp.example.org/calendar",
		Name: "Calendar",
		Scopes: []ScopeView{
			{Name: "calendar:read", Description: "See your events"},
		},
	})
	registered := sampleConsent()
	registered.ClientHost = ""
	registered.ClientID = "mcp-inspector"
	registered.ClientName = "MCP Inspector"
	registered.OfflineAccess = false
	registered.Resources[0].AlreadyGranted = nil
	loginFailed := sampleLogin()
	loginFailed.Providers = nil
	loginFailed.Username = "alice"
	loginFailed.Error = "Wrong username or password."
	providersOnly := sampleLogin()
	providersOnly.LocalLogin = false

	pages := []struct {
		name string
		c    templ.Component
	}{
		{"login", Login(sampleLogin())},
		{"login-failed", Login(loginFailed)},
		{"login-providers", Login(providersOnly)},
		{"consent-url-client", Consent(sampleConsent())},
		{"consent-localhost", Consent(localhost)},
		{"consent-registered", Consent(registered)},
		{"error", Error(sampleError())},
		{"connections", Connections(sampleConnections())},
	}
	chromium, _ := exec.LookPath("chromium")
	for _, p := range pages {
		page := strings.Replace(render(t, p.c), `href="/static/style.css"`, `href="style.css"`, 1)
		file := filepath.Join(dir, p.name+".html")
		if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", file)
		if chromium == "" {
			continue
		}
		for _, shot := range []struct {
			suffix, size string
		}{
			{"", "1000,1100"},
			{"-mobile", "390,900"},
			{"-dark", "1000,1100"},
		} {
			png := filepath.Join(dir, p.name+shot.suffix+".png")
			args := []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
				"--screenshot=" + png, "--window-size=" + shot.size,
			}
			if shot.suffix == "-dark" {
				args = append(args, "--force-dark-mode")
			}
			args = append(args, "file://"+file)
			if out, err := exec.Command(chromium, args...).CombinedOutput(); err != nil {
				t.Errorf("chromium %s: %v\n%s", png, err, out)
				continue
			}
			t.Logf("wrote %s", png)
		}
	}
}
