package elicitation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// The kinds of page an MCP server can ask for.
const (
	// KindConfirm asks the user to approve or decline an action the server describes.
	KindConfirm = "confirm"
	// KindSecret asks the user to enter a value (an API key, say), handed once to the server.
	KindSecret = "secret"
	// KindConnect has the user authorize the server at a third-party OAuth provider; the
	// tokens stay with us and are handed to the server on its authenticated request.
	KindConnect = "connect"
)

// Limits on what a server may ask a page to show: they bound the stored request and keep the
// page readable.
const (
	maxMessage     = 1000
	maxShortText   = 200
	maxDetails     = 10
	maxDetail      = 300
	maxLabel       = 40
	maxSecretBytes = 8 << 10
)

// ConfirmParams are a confirm page's parameters.
type ConfirmParams struct {
	// Action says in a few words what will happen ("Delete 3 files in /reports").
	Action string `json:"action"`
	// Details are shown as a list under the action.
	Details []string `json:"details,omitempty"`
	// ApproveLabel and DeclineLabel name the buttons (default Approve and Decline).
	ApproveLabel string `json:"approve_label,omitempty"`
	DeclineLabel string `json:"decline_label,omitempty"`
}

// SecretParams are a secret page's parameters.
type SecretParams struct {
	// Label names the value ("OpenWeather API key").
	Label string `json:"label"`
	// Description says what it is for and where to find it.
	Description string `json:"description,omitempty"`
	// MaxLength bounds the value in bytes (default and at most 8192).
	MaxLength int `json:"max_length,omitempty"`
}

// ConnectParams are a connect page's parameters.
type ConnectParams struct {
	// Provider is the id of a third-party provider the operator configured.
	Provider string `json:"provider"`
}

// request is what is stored as an elicitation's Request: the message and the kind's parameters.
type request struct {
	Message string         `json:"message"`
	Confirm *ConfirmParams `json:"confirm,omitempty"`
	Secret  *SecretParams  `json:"secret,omitempty"`
	Connect *ConnectParams `json:"connect,omitempty"`
}

// errBadParams is wrapped by every refusal of a request's kind or parameters.
var errBadParams = errors.New("invalid elicitation request")

func badParams(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadParams, fmt.Sprintf(format, args...))
}

// parseRequest checks a server's kind, message and parameters and returns the stored form.
// Unknown members are refused, so that a typo is an error instead of a silently ignored option.
func (s *Service) parseRequest(kind, message string, params json.RawMessage) (*request, error) {
	message = strings.TrimSpace(message)
	if err := text("message", message, maxMessage, true); err != nil {
		return nil, err
	}
	req := &request{Message: message}
	if len(bytes.TrimSpace(params)) == 0 {
		params = json.RawMessage("{}")
	}
	decode := func(into any) error {
		dec := json.NewDecoder(bytes.NewReader(params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			return badParams("params: %v", err)
		}
		return nil
	}
	switch kind {
	case KindConfirm:
		p := &ConfirmParams{}
		if err := decode(p); err != nil {
			return nil, err
		}
		if err := text("params.action", p.Action, maxShortText, true); err != nil {
			return nil, err
		}
		if len(p.Details) > maxDetails {
			return nil, badParams("params.details: at most %d", maxDetails)
		}
		for _, d := range p.Details {
			if err := text("params.details", d, maxDetail, true); err != nil {
				return nil, err
			}
		}
		for name, l := range map[string]string{"approve_label": p.ApproveLabel, "decline_label": p.DeclineLabel} {
			if err := text("params."+name, l, maxLabel, false); err != nil {
				return nil, err
			}
		}
		req.Confirm = p
	case KindSecret:
		p := &SecretParams{}
		if err := decode(p); err != nil {
			return nil, err
		}
		if err := text("params.label", p.Label, maxShortText, true); err != nil {
			return nil, err
		}
		if err := text("params.description", p.Description, maxMessage, false); err != nil {
			return nil, err
		}
		if p.MaxLength < 0 || p.MaxLength > maxSecretBytes {
			return nil, badParams("params.max_length: between 1 and %d", maxSecretBytes)
		}
		if p.MaxLength == 0 {
			p.MaxLength = maxSecretBytes
		}
		req.Secret = p
	case KindConnect:
		p := &ConnectParams{}
		if err := decode(p); err != nil {
			return nil, err
		}
		if _, ok := s.providers[p.Provider]; !ok {
			return nil, badParams("params.provider: %q is not a configured provider", p.Provider)
		}
		req.Connect = p
	default:
		return nil, badParams("kind: %q is not confirm, secret or connect", kind)
	}
	return req, nil
}

// text checks one piece of text a page will show: valid UTF-8, no control characters other
// than newlines, at most max characters.
func text(name, v string, max int, required bool) error {
	if v == "" {
		if required {
			return badParams("%s is required", name)
		}
		return nil
	}
	if !utf8.ValidString(v) {
		return badParams("%s is not UTF-8", name)
	}
	if utf8.RuneCountInString(v) > max {
		return badParams("%s: at most %d characters", name, max)
	}
	for _, r := range v {
		if r < 0x20 && r != '\n' || r == 0x7f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			// Control characters and bidirectional overrides could make the page say
			// something other than what the text reads as.
			return badParams("%s contains control characters", name)
		}
	}
	return nil
}
