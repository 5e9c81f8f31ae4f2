package consent

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gorilla/sessions"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/internal/redirecturi"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

var _ oauth.Consenter = (*Service)(nil)

// Decide implements oauth.Consenter: sign-in first, then consent, remembered per (user, client,
// resource) so that a repeated request passes straight through and a step-up asks only for the
// new scopes.
func (s *Service) Decide(w http.ResponseWriter, r *http.Request, req *oauth.ConsentRequest) (oauth.Decision, bool) {
	ctx := r.Context()
	sess, err := s.session(r)
	if err != nil {
		s.serverError(w, r, "consent: session", err)
		return oauth.Decision{}, false
	}
	user, authTime, err := s.signedInUser(r, sess)
	if err != nil {
		s.serverError(w, r, "consent: user", err)
		return oauth.Decision{}, false
	}
	if user == nil {
		if req.HasPrompt("none") {
			return oauth.Decision{Required: "login_required"}, true
		}
		if r.Method == http.MethodPost {
			// The session ended while the consent page was open.
			s.errorPage(w, r, http.StatusForbidden, "Your session has ended", "Please start again from the app.")
			return oauth.Decision{}, false
		}
		http.Redirect(w, r, s.loginURL(req.Path+"?"+req.Query), http.StatusSeeOther)
		return oauth.Decision{}, false
	}
	d := oauth.Decision{Subject: user.ID, Username: user.Username, AuthTime: authTime}

	// Someone signed in through an upstream provider may consent to what the enterprise's
	// policy allows, and no more: the page offers only that, and Decision.Scopes makes the
	// authorize endpoint grant only that, whatever was consented to before.
	if up := s.upstreams[value(sess, keyUpstream)]; up != nil {
		claims := decodePolicyClaims(value(sess, keyUpstreamClaims))
		d.Scopes = up.allowed(claims, req.Resources)
		narrowed := narrowRequest(req, d.Scopes)
		if len(narrowed.Resources) == 0 {
			if req.HasPrompt("none") {
				return d, true // the authorize endpoint answers access_denied
			}
			s.policyRefused(w, r, up, req, user, up.matchesAny(claims))
			return oauth.Decision{}, false
		}
		req = narrowed
	}

	if r.Method == http.MethodPost {
		return s.decideFromForm(w, r, req, sess, user, d)
	}

	pending, err := s.pendingScopes(r, req, user.ID)
	if err != nil {
		s.serverError(w, r, "consent: load consent", err)
		return oauth.Decision{}, false
	}
	if len(pending) == 0 && !req.HasPrompt("consent") {
		return d, true
	}
	if req.HasPrompt("none") {
		return oauth.Decision{Required: "consent_required"}, true
	}
	view := s.consentView(req, user, pending)
	if value(sess, keyUpstream) != "" {
		view.UserName = displayName(user)
	}
	view.CSRFToken = csrfToken(sess)
	if err := sess.Save(r, w); err != nil {
		s.serverError(w, r, "consent: save session", err)
		return oauth.Decision{}, false
	}
	s.log.InfoContext(ctx, "consent: asking", "sub", user.ID, "client_id", req.Client.ID)
	// Allow and Deny both answer with a redirect to the client.
	httpx.RenderPage(ctx, w, http.StatusOK, templates.Consent(view), httpx.FormTarget(req.RedirectURI))
	return oauth.Decision{}, false
}

// decideFromForm handles the consent form.
func (s *Service) decideFromForm(w http.ResponseWriter, r *http.Request, req *oauth.ConsentRequest, sess *sessions.Session, user *storage.User, d oauth.Decision) (oauth.Decision, bool) {
	if err := s.checkForm(r, sess); err != nil {
		s.log.InfoContext(r.Context(), "consent: form refused", "reason", err, "sub", user.ID)
		s.errorPage(w, r, http.StatusForbidden, "This consent form has expired", "Please start again from the app.")
		return oauth.Decision{}, false
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		s.log.InfoContext(r.Context(), "consent: denied", "sub", user.ID, "client_id", req.Client.ID)
		d.Denied = true
		return d, true
	case "allow":
	default:
		s.errorPage(w, r, http.StatusBadRequest, "No decision", "Choose Allow or Deny.")
		return oauth.Decision{}, false
	}
	for _, res := range req.Resources {
		if err := s.remember(r, user.ID, req.Client, res, req.Scopes[res], req.OfflineAccess); err != nil {
			s.serverError(w, r, "consent: save consent", err)
			return oauth.Decision{}, false
		}
	}
	s.log.InfoContext(r.Context(), "consent: allowed", "sub", user.ID, "client_id", req.Client.ID, "scope", req.AllScopes())
	return d, true
}

// remember adds the scopes to the consent stored for (user, client, resource), with the client's
// current fingerprint; what was consented to under another fingerprint is not carried over.
func (s *Service) remember(r *http.Request, subject string, client *oauth.Client, res *oauth.Resource, scopes []string, offline bool) error {
	granted, err := s.consented(r, subject, client, res)
	if err != nil {
		return err
	}
	for _, sc := range scopes {
		if !slices.Contains(granted, sc) {
			granted = append(granted, sc)
		}
	}
	if offline && !slices.Contains(granted, oauth.OfflineAccess) {
		granted = append(granted, oauth.OfflineAccess)
	}
	return s.store.SaveConsent(r.Context(), storage.Consent{
		Subject: subject, ClientID: client.ID, Resource: res.URI, Scopes: granted, GrantedAt: s.now().UTC(),
		ClientFingerprint: client.Fingerprint,
	})
}

// consented is the scopes the user consented to for (client, resource) and still stand. A
// consent given while the client's metadata document had other redirect URIs, keys or
// authentication method is void (CIMD-01 §6.3: a changed document MAY require fresh consent):
// the redirect URIs are where the user's authorization goes, and a consent was for those.
// Comparing the fingerprint stored with the consent catches a change however long ago it
// happened; the resolver's OnChange only sees changes while a document is cached.
func (s *Service) consented(r *http.Request, subject string, client *oauth.Client, res *oauth.Resource) ([]string, error) {
	c, err := s.store.GetConsent(r.Context(), subject, client.ID, res.URI)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case c.ClientFingerprint != client.Fingerprint:
		s.log.InfoContext(r.Context(), "consent: the client's metadata changed since the user consented; asking again",
			"sub", subject, "client_id", client.ID, "resource", res.URI)
		return nil, nil
	}
	return c.Scopes, nil
}

// pending is, per resource, the requested scopes not yet consented to, and those that were.
type pending map[*oauth.Resource]struct{ new, granted []string }

func (s *Service) pendingScopes(r *http.Request, req *oauth.ConsentRequest, subject string) (pending, error) {
	out := pending{}
	for _, res := range req.Resources {
		have, err := s.consented(r, subject, req.Client, res)
		if err != nil {
			return nil, err
		}
		want := slices.Clone(req.Scopes[res])
		if req.OfflineAccess {
			want = append(want, oauth.OfflineAccess)
		}
		var p struct{ new, granted []string }
		for _, sc := range want {
			if slices.Contains(have, sc) {
				p.granted = append(p.granted, sc)
			} else {
				p.new = append(p.new, sc)
			}
		}
		if len(p.new) > 0 {
			out[res] = p
		}
	}
	return out, nil
}

// consentView decides what the page shows: for each resource the scopes asked for now (only the
// new ones on a step-up; all of them when the client insisted with prompt=consent), the client's
// verifiable identity, and where the browser goes next.
func (s *Service) consentView(req *oauth.ConsentRequest, user *storage.User, p pending) templates.ConsentView {
	v := templates.ConsentView{
		Page:              templates.Page{Title: "Allow access?"},
		Action:            req.Path,
		Request:           req.Query,
		UserName:          user.Username,
		ClientName:        req.Client.Name,
		ClientID:          req.Client.ID,
		ClientHost:        req.Client.Host,
		ClientHostTrusted: req.Client.HostTrusted,
		RedirectHost:      oauth.RedirectHost(req.RedirectURI),
		LocalhostRedirect: redirecturi.IsLoopback(req.RedirectURI),
	}
	for _, res := range req.Resources {
		rv := templates.ResourceView{URI: res.URI, Name: res.Name}
		entry, asked := p[res]
		newScopes, granted := entry.new, entry.granted
		if !asked {
			// Nothing new for this resource (prompt=consent): show everything it asks for.
			newScopes = slices.Clone(req.Scopes[res])
			if req.OfflineAccess {
				newScopes = append(newScopes, oauth.OfflineAccess)
			}
			granted = nil
		}
		for _, sc := range newScopes {
			if sc == oauth.OfflineAccess {
				v.OfflineAccess = true
				continue
			}
			d := res.Scope(sc)
			rv.Scopes = append(rv.Scopes, templates.ScopeView{Name: d.Name, Description: d.Description})
		}
		for _, sc := range granted {
			if sc != oauth.OfflineAccess {
				rv.AlreadyGranted = append(rv.AlreadyGranted, sc)
			}
		}
		v.Resources = append(v.Resources, rv)
	}
	return v
}

// policyRefused is the page for a request the policy allows none of.
func (s *Service) policyRefused(w http.ResponseWriter, r *http.Request, up *upstream, req *oauth.ConsentRequest, user *storage.User, matched bool) {
	var asked []string
	for _, res := range req.Resources {
		asked = append(asked, res.Name)
	}
	heading := "Your organization hasn't given you access"
	message := "No rule of your organization's policy lets your " + up.Name + " account use this server. Ask your administrator for access."
	if matched {
		heading = "Your organization doesn't allow this"
		message = "Your organization's policy doesn't let you give " + req.Client.Name + " the access it asked for to " + strings.Join(asked, ", ") + ". Ask your administrator if you need it."
	}
	s.log.InfoContext(r.Context(), "consent: refused by upstream policy", "sub", user.ID, "provider", up.ID, "client_id", req.Client.ID,
		"scope", req.AllScopes(), "rule_matched", matched)
	httpx.RenderPage(r.Context(), w, http.StatusForbidden, templates.SignInFailed(templates.SignInFailedView{
		Page: templates.Page{Title: heading}, Heading: heading, Message: message, Detail: "policy: " + strings.Join(req.AllScopes(), " "),
	}))
}

// displayName is how the consent page names someone signed in upstream (their username is a
// derived subject): the provider's email, else name.
func displayName(u *storage.User) string {
	switch {
	case u.Email != "":
		return u.Email
	case u.Name != "":
		return u.Name
	}
	return u.Username
}
