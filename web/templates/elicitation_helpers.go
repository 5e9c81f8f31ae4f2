package templates

// elicitationHeading is the rest of an elicitation page's heading, after the server's name.
func elicitationHeading(kind string) string {
	switch kind {
	case "confirm":
		return "asks you to confirm an action"
	case "secret":
		return "asks you for a value"
	case "connect":
		return "asks you to connect an account"
	default:
		return "asks for your input"
	}
}
