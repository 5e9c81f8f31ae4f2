package templates

// SignInFailedView is the page an upstream sign-in ends on when it cannot complete.
type SignInFailedView struct {
	Page
	// Heading is short ("Sign-in was cancelled"); Message says why in plain words.
	Heading string
	Message string
	// Detail is the provider's error code or our reason, for the administrator.
	Detail string
	// RetryURL, when set, is our own sign-in page (a relative URL we built) to start again from.
	RetryURL string
}
