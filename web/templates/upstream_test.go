package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestSignInFailed(t *testing.T) {
	render := func(v SignInFailedView) string {
		var buf bytes.Buffer
		if err := SignInFailed(v).Render(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	page := render(SignInFailedView{
		Heading: "Sign-in was cancelled", Message: "Signing in at " + hostileName + " was cancelled.",
		Detail: hostileDesc, RetryURL: "/login?return=%2Fauthorize%3Fclient_id%3Dabc",
	})
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
		t.Errorf("provider-supplied text is not escaped: %s", page)
	}
	if !strings.Contains(page, `href="/login?return=%2Fauthorize%3Fclient_id%3Dabc"`) || !strings.Contains(page, "Back to sign-in") {
		t.Errorf("no retry link: %s", page)
	}
	if strings.Contains(page, "<form") {
		t.Error("the page has a form")
	}
	page = render(SignInFailedView{Heading: "Your organization hasn't given you access", RetryURL: "javascript:alert(1)"})
	if strings.Contains(page, "javascript:") {
		t.Errorf("an unsafe retry URL is rendered: %s", page)
	}
	page = render(SignInFailedView{Heading: "x"})
	if strings.Contains(page, "Back to sign-in") || !strings.Contains(page, "try again from the app") {
		t.Errorf("no retry URL: %s", page)
	}
}
