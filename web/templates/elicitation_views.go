package templates

// The values the elicitation pages are rendered from (package elicitation fills them). Like the
// other views, every decision is made in Go; the templates only display.

// ElicitationView is an elicitation page: confirm, secret or connect. Its form posts
// csrf_token and decision (and, for a secret, value) back to Action, the page's own URL.
type ElicitationView struct {
	Page
	// Action is the page's URL: a path on our origin carrying only the elicitation's id.
	Action string
	// Kind is "confirm", "secret" or "connect".
	Kind string
	// UserName is who is signed in (the user the elicitation is for).
	UserName string
	// ServerName and ServerURI name the MCP server that asked, as the operator configured it:
	// the only part of the page the user can take on our word.
	ServerName string
	ServerURI  string
	// Message is the server's own text: shown as a quotation of the server, never as ours.
	Message string
	// Error is shown above the form (a value too long, say).
	Error string

	// Confirm: the action the server will take, its details, the button labels.
	ConfirmAction string
	Details       []string
	ApproveLabel  string
	DeclineLabel  string

	// Secret: what to enter, why, and its maximum length in bytes.
	SecretLabel       string
	SecretDescription string
	SecretMaxLength   int

	// Connect: the provider the user will be sent to, and its host (shown so the user knows
	// where the next page comes from).
	ProviderName string
	ProviderHost string
}

// ElicitationDoneView is the page after an elicitation was answered (or could not be).
type ElicitationDoneView struct {
	Page
	Heading string
	Message string
	// Accepted picks the icon: a tick for done, an exclamation mark otherwise.
	Accepted bool
	// ConnectionsURL, when set, links to the connected-accounts page (after a connection).
	ConnectionsURL string
}

// ConnectionsView is the page where the signed-in user sees the third-party accounts they
// connected through connect elicitations, and disconnects them. Each Disconnect form posts
// csrf_token, resource and provider to Action.
type ConnectionsView struct {
	Page
	UserName string
	// Action is the page's own URL.
	Action      string
	Connections []ConnectionItem
	// Notice confirms the last disconnection; Error says why one failed.
	Notice, Error string
}

// ConnectionItem is one connected account.
type ConnectionItem struct {
	// ProviderName and ProviderHost name the third party; ServerName and ServerURI the MCP
	// server that uses the account, as the operator configured them.
	ProviderName, ProviderHost string
	ServerName, ServerURI      string
	// Since is when the account was connected, already formatted.
	Since string
	// RevokedThere says that disconnecting also revokes the access at the provider.
	RevokedThere bool
	// Resource and Provider identify the connection in its form.
	Resource, Provider string
}
