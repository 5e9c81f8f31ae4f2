package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"
	"golang.org/x/net/html"
)

const (
	testCSRF     = "csrf-token-0123456789"
	testClientID = "https://app.example.com/oauth/client-metadata.json"
	hostileName  = `<script>alert(1)</script>`
	hostileDesc  = `Read <img src=x onerror=alert(2)> "files" & folders`
)

func sampleLogin() LoginView {
	return LoginView{
		Page:       Page{Title: "Sign in", CSRFToken: testCSRF},
		Return:     "/authorize?client_id=abc&state=xyz",
		ClientName: "Example Desktop",
		Providers: []ProviderLink{
			{Name: "Google", URL: "/login/google?return=%2Fauthorize"},
			{Name: "Okta", URL: "/login/okta?return=%2Fauthorize"},
		},
		LocalLogin: true,
	}
}

func sampleConsent() ConsentView {
	return ConsentView{
		Page:         Page{Title: "Authorize access", CSRFToken: testCSRF},
		Action:       "/consent",
		Request:      "response_type=code&client_id=https%3A%2F%2Fapp.example.com%2Foauth%2Fclient-metadata.json",
		UserName:     "alice@example.org",
		ClientName:   "Foo Assistant",
		ClientID:     testClientID,
		ClientHost:   "app.example.com",
		RedirectHost: "app.example.com",
		Resources: []ResourceView{{
			URI:  "https://mcp.example.org/files",
			Name: "Files",
			Scopes: []ScopeView{
				{Name: "files:read", Description: "Read your files and folders"},
				{Name: "files:write", Description: "Create, change and delete files"},
			},
			AlreadyGranted: []string{"files:list", "profile"},
		}},
		OfflineAccess: true,
	}
}

func sampleError() ErrorView {
	return ErrorView{
		Page:    Page{Title: "Error"},
		Heading: "This sign-in request can't continue",
		Message: "The app sent a request this server can't accept.",
		Detail:  "invalid_request: redirect_uri does not match a registered redirect URI",
	}
}

// render renders c and returns the HTML.
func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	return buf.String()
}

// parse parses a rendered page.
func parse(t *testing.T, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc
}

// elements returns every element named tag ("" for all) in document order.
func elements(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && (tag == "" || d.Data == tag) {
			out = append(out, d)
		}
	}
	return out
}

// attr returns the value of the attribute key of n and whether n has it.
func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// hasClass reports whether n has the class c.
func hasClass(n *html.Node, c string) bool {
	v, _ := attr(n, "class")
	for f := range strings.FieldsSeq(v) {
		if f == c {
			return true
		}
	}
	return false
}

// byClass returns the elements having class c.
func byClass(doc *html.Node, c string) []*html.Node {
	var out []*html.Node
	for _, e := range elements(doc, "") {
		if hasClass(e, c) {
			out = append(out, e)
		}
	}
	return out
}

// text returns the text content of n with whitespace collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// bodyText is the visible text of the page's body.
func bodyText(doc *html.Node) string {
	return text(elements(doc, "body")[0])
}

// hiddenInputs maps the hidden inputs of form by name to value.
func hiddenInputs(form *html.Node) map[string]string {
	out := map[string]string{}
	for _, in := range elements(form, "input") {
		if typ, _ := attr(in, "type"); typ == "hidden" {
			name, _ := attr(in, "name")
			out[name], _ = attr(in, "value")
		}
	}
	return out
}

type pageCase struct {
	name string
	c    templ.Component
	// forms is how many forms the page must have.
	forms int
	// title is the expected document title.
	title string
}

func pageCases() []pageCase {
	providersOnly := sampleLogin()
	providersOnly.LocalLogin = false
	localOnly := sampleLogin()
	localOnly.Providers = nil
	localOnly.Error = "Wrong username or password"
	localOnly.Username = "alice"
	localhost := sampleConsent()
	localhost.LocalhostRedirect = true
	localhost.RedirectHost = "127.0.0.1:53682"
	localhost.ClientHostTrusted = true
	localhost.LogoURL = "/logos/app.example.com.png"
	registered := sampleConsent()
	registered.ClientHost = ""
	registered.ClientID = "mcp-inspector"
	errNoDetail := sampleError()
	errNoDetail.Detail = ""
	noConnections := sampleConnections()
	noConnections.Connections, noConnections.Notice = nil, ""
	return []pageCase{
		{"login", Login(sampleLogin()), 1, "Sign in · mcp-authz"},
		{"login providers only", Login(providersOnly), 0, "Sign in · mcp-authz"},
		{"login local only with error", Login(localOnly), 1, "Sign in · mcp-authz"},
		{"login default title", Login(LoginView{LocalLogin: true, Page: Page{CSRFToken: testCSRF}}), 1, "Sign in · mcp-authz"},
		{"consent url client", Consent(sampleConsent()), 1, "Authorize access · mcp-authz"},
		{"consent localhost trusted logo", Consent(localhost), 1, "Authorize access · mcp-authz"},
		{"consent registered client", Consent(registered), 1, "Authorize access · mcp-authz"},
		{"error", Error(sampleError()), 0, "Error · mcp-authz"},
		{"error no detail", Error(errNoDetail), 0, "Error · mcp-authz"},
		{"error empty", Error(ErrorView{}), 0, "Error · mcp-authz"},
		{"connections", Connections(sampleConnections()), 2, "Connected accounts · mcp-authz"},
		{"connections none", Connections(noConnections), 0, "Connected accounts · mcp-authz"},
	}
}

func sampleConnections() ConnectionsView {
	return ConnectionsView{
		Page:     Page{CSRFToken: testCSRF},
		UserName: "alice",
		Action:   "/elicitation/connections",
		Notice:   "Your Drive account was disconnected.",
		Connections: []ConnectionItem{
			{ProviderName: "Example Cloud", ProviderHost: "cloud.example.net", ServerName: "Files", ServerURI: "https://files.example.com/mcp",
				Since: "24 November 2026 at 09:12 UTC", RevokedThere: true, Resource: "https://files.example.com/mcp", Provider: "example-cloud"},
			{ProviderName: "GitHub", ProviderHost: "github.com", ServerURI: "https://mcp.example.org/code",
				Since: "2 October 2026 at 17:40 UTC", Resource: "https://mcp.example.org/code", Provider: "github"},
		},
	}
}

// TestLayout checks what every page shares: the document frame, the stylesheet, one h1, CSRF
// tokens in every form, labelled inputs, and nothing the Content-Security-Policy would block.
func TestLayout(t *testing.T) {
	for _, tc := range pageCases() {
		t.Run(tc.name, func(t *testing.T) {
			page := render(t, tc.c)
			doc := parse(t, page)

			if !strings.HasPrefix(strings.ToLower(page), "<!doctype html>") {
				t.Errorf("page does not start with <!doctype html>: %.40q", page)
			}
			if lang, _ := attr(elements(doc, "html")[0], "lang"); lang == "" {
				t.Error("html element has no lang")
			}
			if titles := elements(doc, "title"); len(titles) != 1 || text(titles[0]) != tc.title {
				t.Errorf("title = %v, want %q", titles, tc.title)
			}
			var viewport, stylesheet bool
			for _, m := range elements(doc, "meta") {
				if name, _ := attr(m, "name"); name == "viewport" {
					viewport = true
				}
			}
			for _, l := range elements(doc, "link") {
				rel, _ := attr(l, "rel")
				href, _ := attr(l, "href")
				if rel == "stylesheet" && href == "/static/style.css" {
					stylesheet = true
				}
			}
			if !viewport || !stylesheet {
				t.Errorf("viewport meta %v, stylesheet link %v; want both", viewport, stylesheet)
			}
			if n := len(elements(doc, "h1")); n != 1 {
				t.Errorf("%d h1 elements, want 1", n)
			}

			// Content-Security-Policy: no inline script or style, nothing from elsewhere.
			if strings.Contains(strings.ToLower(page), "<script") {
				t.Error("page contains <script")
			}
			if strings.Contains(page, "style=") {
				t.Error("page contains a style= attribute")
			}
			if n := len(elements(doc, "style")) + len(elements(doc, "script")) + len(elements(doc, "iframe")); n != 0 {
				t.Errorf("%d style/script/iframe elements, want none", n)
			}
			for _, e := range elements(doc, "") {
				for _, a := range e.Attr {
					if strings.HasPrefix(a.Key, "on") {
						t.Errorf("<%s> has event handler attribute %s", e.Data, a.Key)
					}
					if (a.Key == "href" || a.Key == "src" || a.Key == "action") &&
						(!strings.HasPrefix(a.Val, "/") || strings.HasPrefix(a.Val, "//")) {
						t.Errorf("<%s %s=%q> does not point to our own origin", e.Data, a.Key, a.Val)
					}
				}
			}

			forms := elements(doc, "form")
			if len(forms) != tc.forms {
				t.Errorf("%d forms, want %d", len(forms), tc.forms)
			}
			for _, f := range forms {
				if m, _ := attr(f, "method"); m != "post" {
					t.Errorf("form method = %q, want post", m)
				}
				if tok, ok := hiddenInputs(f)["csrf_token"]; !ok || tok != testCSRF {
					t.Errorf("form has csrf_token %q (present %v), want %q", tok, ok, testCSRF)
				}
			}

			// Every visible input has a label.
			labels := map[string]bool{}
			for _, l := range elements(doc, "label") {
				if f, ok := attr(l, "for"); ok {
					labels[f] = true
				}
			}
			for _, in := range elements(doc, "input") {
				if typ, _ := attr(in, "type"); typ == "hidden" {
					continue
				}
				if id, _ := attr(in, "id"); id == "" || !labels[id] {
					t.Errorf("input %v has no label", in.Attr)
				}
			}
		})
	}
}

func TestLogin(t *testing.T) {
	tests := []struct {
		name          string
		edit          func(*LoginView)
		wantForm      bool
		wantProviders int
		want          []string
		notWant       []string
	}{
		{
			name:          "providers and local form",
			edit:          func(*LoginView) {},
			wantForm:      true,
			wantProviders: 2,
			want:          []string{"to continue to Example Desktop", "Continue with Google", "Continue with Okta", "or"},
		},
		{
			name:          "providers only",
			edit:          func(v *LoginView) { v.LocalLogin = false },
			wantProviders: 2,
			notWant:       []string{"Password"},
		},
		{
			name:     "local only, after a failed attempt",
			edit:     func(v *LoginView) { v.Providers = nil; v.Error = "Wrong username or password"; v.ClientName = "" },
			wantForm: true,
			want:     []string{"Wrong username or password"},
			notWant:  []string{"to continue to", "Continue with"},
		},
		{
			name:    "nothing configured",
			edit:    func(v *LoginView) { v.Providers = nil; v.LocalLogin = false },
			want:    []string{"No sign-in method is available"},
			notWant: []string{"Password"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleLogin()
			v.Username = "alice"
			tc.edit(&v)
			doc := parse(t, render(t, Login(v)))
			body := bodyText(doc)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page does not show %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q:\n%s", w, body)
				}
			}
			if v.Error != "" {
				alerts := byClass(doc, "alert-error")
				if len(alerts) != 1 || text(alerts[0]) != v.Error {
					t.Errorf("error box = %v, want one with %q", alerts, v.Error)
				}
				if role, _ := attr(alerts[0], "role"); role != "alert" {
					t.Errorf("error box role = %q, want alert", role)
				}
			}

			providers := 0
			for _, a := range elements(doc, "a") {
				href, _ := attr(a, "href")
				if strings.HasPrefix(href, "/login/") {
					providers++
				}
			}
			if providers != tc.wantProviders {
				t.Errorf("%d provider links, want %d", providers, tc.wantProviders)
			}

			forms := elements(doc, "form")
			if !tc.wantForm {
				if len(forms) != 0 {
					t.Errorf("%d forms, want none", len(forms))
				}
				return
			}
			if len(forms) != 1 {
				t.Fatalf("%d forms, want 1", len(forms))
			}
			f := forms[0]
			if action, _ := attr(f, "action"); action != "/login" {
				t.Errorf("form action = %q, want /login", action)
			}
			if got := hiddenInputs(f)["return"]; got != v.Return {
				t.Errorf("return = %q, want %q", got, v.Return)
			}
			inputs := map[string]*html.Node{}
			for _, in := range elements(f, "input") {
				name, _ := attr(in, "name")
				inputs[name] = in
			}
			for name, want := range map[string][2]string{
				"username": {"text", "username"},
				"password": {"password", "current-password"},
			} {
				in := inputs[name]
				if in == nil {
					t.Errorf("no %s input", name)
					continue
				}
				typ, _ := attr(in, "type")
				ac, _ := attr(in, "autocomplete")
				if typ != want[0] || ac != want[1] {
					t.Errorf("%s: type %q autocomplete %q, want %q %q", name, typ, ac, want[0], want[1])
				}
				if _, ok := attr(in, "required"); !ok {
					t.Errorf("%s is not required", name)
				}
			}
			if u, _ := attr(inputs["username"], "value"); u != v.Username {
				t.Errorf("username value = %q, want %q", u, v.Username)
			}
			if _, ok := attr(inputs["password"], "value"); ok {
				t.Error("password input has a value")
			}
			if buttons := elements(f, "button"); len(buttons) != 1 {
				t.Errorf("%d buttons in the form, want 1", len(buttons))
			}
		})
	}
}

// TestLoginSanitizesProviderURL checks that a provider URL with a script scheme is never
// rendered as a working link.
func TestLoginSanitizesProviderURL(t *testing.T) {
	v := sampleLogin()
	v.Providers = []ProviderLink{{Name: "Evil", URL: "javascript:alert(1)"}}
	page := render(t, Login(v))
	if strings.Contains(page, "javascript:") {
		t.Errorf("page contains a javascript: URL:\n%s", page)
	}
}

func TestConsentIdentity(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*ConsentView)
		want    []string
		notWant []string
	}{
		{
			name:    "URL client, not allow-listed",
			edit:    func(*ConsentView) {},
			want:    []string{"app.example.com", "calls itself “Foo Assistant”", "chosen by the app itself", "Name not verified"},
			notWant: []string{"Verified domain", "list of trusted apps"},
		},
		{
			name:    "URL client, allow-listed",
			edit:    func(v *ConsentView) { v.ClientHostTrusted = true },
			want:    []string{"app.example.com", "calls itself “Foo Assistant”", "Verified domain", "list of trusted apps"},
			notWant: []string{"chosen by the app itself", "not verified"},
		},
		{
			name:    "registered client",
			edit:    func(v *ConsentView) { v.ClientHost = ""; v.ClientID = "mcp-inspector" },
			want:    []string{"Foo Assistant wants to access your account"},
			notWant: []string{"calls itself", "Verified domain", "not verified"},
		},
		{
			name: "registered client without a name",
			edit: func(v *ConsentView) { v.ClientHost = ""; v.ClientName = ""; v.ClientID = "mcp-inspector" },
			want: []string{"mcp-inspector wants to access your account"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleConsent()
			tc.edit(&v)
			doc := parse(t, render(t, Consent(v)))
			body := bodyText(doc)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page does not show %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q:\n%s", w, body)
				}
			}

			h1 := text(elements(doc, "h1")[0])
			if v.ClientHost != "" {
				// The host comes first, in the heading; the self-asserted name after it.
				host, name := strings.Index(body, v.ClientHost), strings.Index(body, v.ClientName)
				if host < 0 || name < 0 || host > name {
					t.Errorf("host at %d, name at %d: the host must come before the name:\n%s", host, name, body)
				}
				if !strings.Contains(h1, v.ClientHost) || strings.Contains(h1, v.ClientName) {
					t.Errorf("h1 = %q, want the host %q and not the name", h1, v.ClientHost)
				}
			} else if want := orDefault(v.ClientName, v.ClientID); !strings.Contains(h1, want) {
				t.Errorf("h1 = %q, want it to name the client %q", h1, want)
			}
			ids := byClass(doc, "client-id")
			if len(ids) != 1 || !strings.Contains(text(ids[0]), v.ClientID) {
				t.Errorf("client id line = %v, want one showing %q", ids, v.ClientID)
			}

			// No client-supplied value ever ends up in a URL attribute.
			for _, e := range elements(doc, "") {
				for _, a := range e.Attr {
					if a.Key != "href" && a.Key != "src" && a.Key != "action" {
						continue
					}
					for _, bad := range []string{v.ClientID, "example.com"} {
						if strings.Contains(a.Val, bad) {
							t.Errorf("<%s %s=%q> contains client value %q", e.Data, a.Key, a.Val, bad)
						}
					}
				}
			}
		})
	}
}

func TestConsentLocalhostWarning(t *testing.T) {
	for _, localhost := range []bool{false, true} {
		v := sampleConsent()
		v.LocalhostRedirect = localhost
		if localhost {
			v.RedirectHost = "127.0.0.1:53682"
		}
		doc := parse(t, render(t, Consent(v)))
		warnings := byClass(doc, "alert-warning")
		body := bodyText(doc)
		shown := strings.Contains(body, "sends you back to an app on this computer")
		if shown != localhost || len(warnings) != map[bool]int{false: 0, true: 1}[localhost] {
			t.Errorf("LocalhostRedirect %v: warning shown %v, %d warning boxes", localhost, shown, len(warnings))
		}
		if want := "After you decide, you’ll be sent to " + v.RedirectHost; !strings.Contains(body, want) {
			t.Errorf("page does not show %q:\n%s", want, body)
		}
	}
}

func TestConsentRequest(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*ConsentView)
		want    []string
		notWant []string
		logo    bool
	}{
		{
			name: "scopes, already granted, offline",
			edit: func(*ConsentView) {},
			want: []string{
				"Signed in as alice@example.org",
				"Files", "https://mcp.example.org/files",
				"Read your files and folders files:read",
				"Create, change and delete files files:write",
				"Already granted: files:list, profile",
				"keep using this access while you are away",
			},
		},
		{
			name: "nothing granted before, online only, with a logo",
			edit: func(v *ConsentView) {
				v.Resources[0].AlreadyGranted = nil
				v.OfflineAccess = false
				v.LogoURL = "/logos/app.png"
			},
			want:    []string{"files:read"},
			notWant: []string{"Already granted", "while you are away"},
			logo:    true,
		},
		{
			name: "two resources, one unnamed",
			edit: func(v *ConsentView) {
				v.Resources = append(v.Resources, ResourceView{
					URI:    "https://mcp.example.org/calendar",
					Scopes: []ScopeView{{Name: "calendar:read"}},
				})
			},
			want: []string{"https://mcp.example.org/calendar calendar:read"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleConsent()
			tc.edit(&v)
			doc := parse(t, render(t, Consent(v)))
			body := bodyText(doc)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page does not show %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q:\n%s", w, body)
				}
			}
			imgs := elements(doc, "img")
			if tc.logo {
				if len(imgs) != 1 {
					t.Fatalf("%d images, want the logo", len(imgs))
				}
				if src, _ := attr(imgs[0], "src"); src != v.LogoURL {
					t.Errorf("logo src = %q, want %q", src, v.LogoURL)
				}
				if _, ok := attr(imgs[0], "alt"); !ok {
					t.Error("logo has no alt")
				}
			} else if len(imgs) != 0 {
				t.Errorf("%d images, want none", len(imgs))
			}
			if got := len(byClass(doc, "resource")); got != len(v.Resources) {
				t.Errorf("%d resources shown, want %d", got, len(v.Resources))
			}

			forms := elements(doc, "form")
			if len(forms) != 1 {
				t.Fatalf("%d forms, want 1", len(forms))
			}
			f := forms[0]
			if action, _ := attr(f, "action"); action != v.Action {
				t.Errorf("action = %q, want %q", action, v.Action)
			}
			if got := hiddenInputs(f)["request"]; got != v.Request {
				t.Errorf("request = %q, want %q", got, v.Request)
			}
			decisions := map[string]bool{}
			for _, b := range elements(f, "button") {
				name, _ := attr(b, "name")
				value, _ := attr(b, "value")
				typ, _ := attr(b, "type")
				if name == "decision" && typ == "submit" {
					decisions[value] = true
				}
			}
			if !decisions["allow"] || !decisions["deny"] || len(decisions) != 2 {
				t.Errorf("decision buttons = %v, want allow and deny", decisions)
			}
		})
	}
}

// TestEscaping renders hostile values everywhere a client or user can put text and checks they
// come out as text, never as markup.
func TestEscaping(t *testing.T) {
	consent := sampleConsent()
	consent.ClientName = hostileName
	consent.Resources[0].Scopes[0].Description = hostileDesc
	consent.Resources[0].Name = hostileName
	consent.Resources[0].AlreadyGranted = []string{hostileName}
	consent.UserName = hostileName
	consent.Request = `"><script>alert(3)</script>`
	registered := consent
	registered.ClientHost = ""
	login := sampleLogin()
	login.ClientName = hostileName
	login.Error = hostileName
	login.Username = `"><script>alert(4)</script>`
	login.Return = `"><script>alert(5)</script>`
	login.Providers = []ProviderLink{{Name: hostileName, URL: `/login/x"><script>alert(6)</script>`}}
	connections := sampleConnections()
	connections.UserName = hostileName
	connections.Connections[0].ProviderName = hostileName
	connections.Connections[0].ServerName = hostileDesc
	connections.Connections[0].Provider = `"><script>alert(7)</script>`
	errView := sampleError()
	errView.Heading = hostileName
	errView.Message = hostileName
	errView.Detail = hostileDesc

	tests := []struct {
		name string
		c    templ.Component
		// shown are the hostile strings that must be visible as text.
		shown []string
	}{
		{"consent", Consent(consent), []string{hostileName, hostileDesc}},
		{"consent registered client", Consent(registered), []string{hostileName, hostileDesc}},
		{"login", Login(login), []string{hostileName}},
		{"error", Error(errView), []string{hostileName, hostileDesc}},
		{"connections", Connections(connections), []string{hostileName, hostileDesc}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := render(t, tc.c)
			if strings.Contains(page, "<script") || strings.Contains(page, "<img src=x") {
				t.Errorf("hostile markup rendered unescaped:\n%s", page)
			}
			if !strings.Contains(page, "&lt;script&gt;") {
				t.Errorf("escaped form of the hostile name not found:\n%s", page)
			}
			doc := parse(t, page)
			if n := len(elements(doc, "script")); n != 0 {
				t.Errorf("%d script elements", n)
			}
			body := bodyText(doc)
			for _, s := range tc.shown {
				if !strings.Contains(body, strings.Join(strings.Fields(s), " ")) {
					t.Errorf("page does not show %q as text:\n%s", s, body)
				}
			}
		})
	}
}

func TestError(t *testing.T) {
	tests := []struct {
		name    string
		v       ErrorView
		want    []string
		notWant []string
	}{
		{
			name: "with detail",
			v:    sampleError(),
			want: []string{
				"This sign-in request can't continue",
				"The app sent a request this server can't accept.",
				"Details for the app developer: invalid_request: redirect_uri does not match",
			},
		},
		{
			name: "without detail",
			v:    ErrorView{Heading: "Session expired", Message: "Start again from your app."},
			want: []string{"Session expired", "Start again from your app."},
			notWant: []string{
				"Details for the app developer",
			},
		},
		{
			name: "empty",
			v:    ErrorView{},
			want: []string{"Something went wrong"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := parse(t, render(t, Error(tc.v)))
			body := bodyText(doc)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page does not show %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Errorf("page shows %q:\n%s", w, body)
				}
			}
			if h1 := text(elements(doc, "h1")[0]); h1 != orDefault(tc.v.Heading, "Something went wrong") {
				t.Errorf("h1 = %q", h1)
			}
			if n := len(elements(doc, "a")); n != 0 {
				t.Errorf("%d links on the error page, want none", n)
			}
		})
	}
}
