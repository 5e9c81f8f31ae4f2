package templates

// The values each page is rendered from. Handlers fill them; templates only display them, so
// every decision (what to warn about, which scopes are new) is made and tested in Go.

// Page is what every page shares.
type Page struct {
	Title string
	// CSRFToken goes into a hidden "csrf_token" field of every form on the page.
	CSRFToken string
}

// LoginView is the sign-in page. The form posts username, password, csrf_token and return to
// Action (default /login).
type LoginView struct {
	Page
	// Action is the sign-in endpoint: /login under the issuer's path.
	Action string
	// Return is the relative URL (an /authorize request) to continue with after login; it is
	// echoed in a hidden "return" field.
	Return string
	// Username is pre-filled after a failed attempt.
	Username string
	// Error is shown above the form ("Wrong username or password", "Too many attempts ...").
	Error string
	// ClientName, when set, says who asked for the sign-in ("to continue to ...").
	ClientName string
	// Providers are upstream identity providers offered beside the local form (may be empty).
	Providers []ProviderLink
	// LocalLogin is false when only upstream providers may be used.
	LocalLogin bool
}

// ProviderLink is one upstream identity provider button: a GET link on our own origin.
type ProviderLink struct {
	Name string
	URL  string
}

// ConsentView is the consent page. The form posts csrf_token, request and decision
// ("allow" or "deny") to Action.
type ConsentView struct {
	Page
	Action string
	// Request is the original authorization request (a query string), echoed in a hidden
	// "request" field.
	Request string
	// UserName is who is signed in.
	UserName string

	ClientName string // self-asserted by the client: never shown without ClientHost beside it for URL clients
	ClientID   string
	// ClientHost is set for clients whose client_id is a URL (CIMD): the host is the only part of
	// the client's identity we can vouch for, so it is shown prominently, above the name.
	ClientHost string
	// ClientHostTrusted marks a ClientHost on the operator's allow-list.
	ClientHostTrusted bool
	// LogoURL is a logo served from our own origin, or empty: client-supplied URLs are never loaded.
	LogoURL string

	RedirectHost string
	// LocalhostRedirect warns that the redirect goes to this machine (a native app, or anything
	// listening on that port).
	LocalhostRedirect bool

	Resources []ResourceView
	// OfflineAccess says the client will be able to act while the user is away (refresh tokens).
	OfflineAccess bool
}

// ResourceView is one protected resource the client asks for, with the scopes shown.
type ResourceView struct {
	URI    string
	Name   string
	Scopes []ScopeView
	// AlreadyGranted lists scopes granted before, shown compactly, not asked again.
	AlreadyGranted []string
}

// ScopeView is one requested scope.
type ScopeView struct {
	Name        string
	Description string
}

// ErrorView is an error page: the request cannot continue and is not redirected anywhere.
type ErrorView struct {
	Page
	// Heading is short ("This sign-in request can't continue"); Message says why in plain words;
	// Detail is the OAuth error code and description, for the developer of the client.
	Heading string
	Message string
	Detail  string
}
