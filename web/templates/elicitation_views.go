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
}
