package elicitation

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

// The pages a user opens. Requirements §8: the person in the browser must be the elicitation's
// user, checked when the page is shown and again when it is submitted (and, for connect, when
// the provider sends the browser back); the page says when it cannot continue without saying
// whose request it was or what it asked; each id completes once.

// Messages of the pages that cannot continue. None names the user, the server or the request.
var (
	pageNotFound = pageProblem{http.StatusNotFound, "This link is not valid",
		"There is no request at this address. Check that you opened the whole link the app gave you."}
	pageOtherUser = pageProblem{http.StatusForbidden, "This request is for another account",
		"You are signed in with an account other than the one this request was made for. Sign out, sign in with the account you use in the app, and open the link again."}
	pageExpired = pageProblem{http.StatusGone, "This request has expired",
		"The request is no longer valid. Go back to the app and try again."}
	pageUsed = pageProblem{http.StatusGone, "This request was already answered",
		"Each request can be answered once. If you need to change your answer, go back to the app and start again."}
	pageFormExpired = pageProblem{http.StatusForbidden, "This form has expired",
		"The form did not come from this page, or your session changed. Open the link from the app again."}
	pageSessionEnded = pageProblem{http.StatusForbidden, "Your session has ended",
		"Sign in again by opening the link from the app."}
	pageTooMany = pageProblem{http.StatusTooManyRequests, "Too many attempts",
		"Wait a minute, then try again."}
)

type pageProblem struct {
	status           int
	heading, message string
}

func (s *Service) problem(w http.ResponseWriter, r *http.Request, p pageProblem) {
	httpx.RenderPage(r.Context(), w, p.status, templates.ElicitationDone(templates.ElicitationDoneView{
		Page: templates.Page{Title: p.heading}, Heading: p.heading, Message: p.message,
	}))
}

func (s *Service) pageError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), "elicitation page: "+what, "error", err)
	s.problem(w, r, pageProblem{http.StatusInternalServerError, "Something went wrong", "The server could not complete this step. Please try again."})
}

// pageFor loads the elicitation of the page and checks it is the signed-in user's and still
// open. On failure it has answered.
func (s *Service) pageFor(w http.ResponseWriter, r *http.Request, id string, user *storage.User) (*storage.Elicitation, bool) {
	e, err := s.store.GetElicitation(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		s.problem(w, r, pageNotFound)
		return nil, false
	}
	if err != nil {
		s.pageError(w, r, "load", err)
		return nil, false
	}
	if e.Subject != user.ID {
		// A swapped or forwarded id: the page is someone else's. Logged, since it may be an
		// attempt to phish a user into answering another's request.
		s.log.WarnContext(r.Context(), "elicitation page: opened by another user", "ref", ref(id), "sub", user.ID)
		s.problem(w, r, pageOtherUser)
		return nil, false
	}
	switch s.status(e) {
	case storage.ElicitationPending:
		return e, true
	case "expired":
		s.problem(w, r, pageExpired)
	default:
		s.problem(w, r, pageUsed)
	}
	return nil, false
}

// handlePage shows an elicitation page (GET) and takes its answer (POST).
func (s *Service) handlePage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		s.problem(w, r, pageNotFound)
		return
	}
	if r.Method == http.MethodPost {
		s.handleAnswer(w, r, id)
		return
	}
	user, ok := s.signedInOrLogin(w, r, s.basePath+pagePath+id)
	if !ok {
		return
	}
	e, ok := s.pageFor(w, r, id, user)
	if !ok {
		return
	}
	s.render(w, r, e, user, "")
}

// render shows the page of a pending elicitation, with a fresh CSRF token.
func (s *Service) render(w http.ResponseWriter, r *http.Request, e *storage.Elicitation, user *storage.User, problem string) {
	var req request
	if err := json.Unmarshal(e.Request, &req); err != nil {
		s.pageError(w, r, "stored request", err)
		return
	}
	token, err := s.browser.FormToken(w, r)
	if err != nil {
		s.pageError(w, r, "form token", err)
		return
	}
	v := templates.ElicitationView{
		Page:     templates.Page{CSRFToken: token},
		Action:   s.basePath + pagePath + e.ID,
		Kind:     e.Kind,
		UserName: user.Username,
		Message:  req.Message,
		Error:    problem,
	}
	if res := s.resources[e.Resource]; res != nil {
		v.ServerName, v.ServerURI = res.Name, res.URI
	} else {
		v.ServerURI = e.Resource
	}
	var formTarget string
	switch {
	case req.Confirm != nil:
		v.ConfirmAction, v.Details = req.Confirm.Action, req.Confirm.Details
		v.ApproveLabel, v.DeclineLabel = req.Confirm.ApproveLabel, req.Confirm.DeclineLabel
	case req.Secret != nil:
		v.SecretLabel, v.SecretDescription, v.SecretMaxLength = req.Secret.Label, req.Secret.Description, req.Secret.MaxLength
	case req.Connect != nil:
		p := s.providers[req.Connect.Provider]
		if p == nil {
			s.pageError(w, r, "provider", errors.New("the elicitation's provider is no longer configured"))
			return
		}
		v.ProviderName = p.Name
		if u, err := url.Parse(p.AuthorizationEndpoint); err == nil {
			v.ProviderHost = u.Host
		}
		// "Continue" answers with a redirect to the provider; CSP form-action applies to the
		// redirects after a submission (CSP3 §6.3.2.2), so the provider's origin is listed.
		formTarget = httpx.FormTarget(p.AuthorizationEndpoint)
	}
	status := http.StatusOK
	if problem != "" {
		status = http.StatusBadRequest
	}
	httpx.RenderPage(r.Context(), w, status, templates.Elicitation(v), formTarget)
}

// handleAnswer takes a page's form: CSRF first, then the user, again, then the elicitation.
func (s *Service) handleAnswer(w http.ResponseWriter, r *http.Request, id string) {
	user, ok := s.postedForm(w, r, "elicitation page: form refused", "ref", ref(id))
	if !ok {
		return
	}
	e, ok := s.pageFor(w, r, id, user)
	if !ok {
		return
	}
	decision := r.PostForm.Get("decision")
	if decision == "decline" {
		s.finish(w, r, e, storage.ElicitationDeclined, nil)
		return
	}
	switch e.Kind {
	case KindConfirm:
		if decision != "approve" {
			s.render(w, r, e, user, "Choose one of the buttons.")
			return
		}
		s.finish(w, r, e, storage.ElicitationAccepted, nil)
	case KindSecret:
		if decision != "submit" {
			s.render(w, r, e, user, "Choose one of the buttons.")
			return
		}
		var req request
		if err := json.Unmarshal(e.Request, &req); err != nil || req.Secret == nil {
			s.pageError(w, r, "stored request", err)
			return
		}
		value := r.PostForm.Get("value")
		switch {
		case value == "":
			s.render(w, r, e, user, "Enter a value, or decline.")
			return
		case len(value) > req.Secret.MaxLength || !utf8.ValidString(value):
			s.render(w, r, e, user, "That value is too long.")
			return
		}
		result, err := json.Marshal(map[string]string{"value": value})
		if err != nil {
			s.pageError(w, r, "result", err)
			return
		}
		s.finish(w, r, e, storage.ElicitationAccepted, result)
	case KindConnect:
		if decision != "connect" {
			s.render(w, r, e, user, "Choose one of the buttons.")
			return
		}
		s.startConnect(w, r, e)
	default:
		s.pageError(w, r, "kind", errors.New("unknown kind "+e.Kind))
	}
}

// signedInOrLogin returns the signed-in user of a page, or sends the browser to sign in and
// back to returnTo (allowed by consent.Options.ReturnPaths). On failure it has answered.
func (s *Service) signedInOrLogin(w http.ResponseWriter, r *http.Request, returnTo string) (*storage.User, bool) {
	user, err := s.browser.SignedInUser(r)
	if err != nil {
		s.pageError(w, r, "session", err)
		return nil, false
	}
	if user == nil {
		s.browser.RedirectToLogin(w, r, returnTo)
		return nil, false
	}
	return user, true
}

// signedIn returns the signed-in user of a step that cannot send the browser to sign in (a
// form, the provider's answer). On failure it has answered.
func (s *Service) signedIn(w http.ResponseWriter, r *http.Request) (*storage.User, bool) {
	user, err := s.browser.SignedInUser(r)
	if err != nil {
		s.pageError(w, r, "session", err)
		return nil, false
	}
	if user == nil {
		s.problem(w, r, pageSessionEnded)
		return nil, false
	}
	return user, true
}

// postedForm takes a page's form in the order that leaks least: the rate limit, the form
// itself, its CSRF token (a refusal logged with refused and attrs), and only then the user. On
// failure it has answered.
func (s *Service) postedForm(w http.ResponseWriter, r *http.Request, refused string, attrs ...any) (*storage.User, bool) {
	if !s.posts.allow(clientAddress(r)) {
		s.problem(w, r, pageTooMany)
		return nil, false
	}
	if err := httpx.ParseForm(w, r); err != nil {
		s.problem(w, r, pageProblem{http.StatusBadRequest, "Bad request", err.Error()})
		return nil, false
	}
	if err := s.browser.CheckForm(r); err != nil {
		s.log.InfoContext(r.Context(), refused, append(attrs, "reason", err)...)
		s.problem(w, r, pageFormExpired)
		return nil, false
	}
	return s.signedIn(w, r)
}

// finish completes the elicitation and says so. Losing a race with another submission (two
// tabs) or with the expiry is "already answered".
func (s *Service) finish(w http.ResponseWriter, r *http.Request, e *storage.Elicitation, status string, result []byte) {
	if err := s.complete(context.WithoutCancel(r.Context()), e, status, result); err != nil {
		if errors.Is(err, storage.ErrInactive) {
			s.problem(w, r, pageUsed)
			return
		}
		s.pageError(w, r, "complete", err)
		return
	}
	s.done(w, r, e, status)
}

func (s *Service) done(w http.ResponseWriter, r *http.Request, e *storage.Elicitation, status string) {
	name := e.Resource
	if res := s.resources[e.Resource]; res != nil {
		name = res.Name
	}
	v := templates.ElicitationDoneView{Accepted: status == storage.ElicitationAccepted}
	switch {
	case status != storage.ElicitationAccepted:
		v.Heading, v.Message = "Declined", name+" was told that you declined."
	case e.Kind == KindConfirm:
		v.Heading, v.Message = "Approved", name+" was told that you approved."
	case e.Kind == KindSecret:
		v.Heading, v.Message = "Sent", "The value was stored for "+name+"."
	case e.Kind == KindConnect:
		v.Heading, v.Message = "Account connected", name+" can now use the account you connected."
		v.ConnectionsURL = s.basePath + connectionsPath
	}
	v.Title = v.Heading
	httpx.RenderPage(r.Context(), w, http.StatusOK, templates.ElicitationDone(v))
}

// clientAddress is the peer address, for rate limiting (forwarded headers can be forged).
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
