package elicitation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mcp-authz/mcp-authz/internal/httpx"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/web/templates"
)

// The connected-accounts page, /elicitation/connections: the signed-in user's connections, each
// with a Disconnect button. A connection's record id derives from (resource, user, provider), so
// the page looks up each configured (resource, provider) pair for the signed-in user: it lists
// nobody else's, and a form naming a pair can only ever reach the submitter's own connection.

// connectionsPath is under pagePath, so that the login page may return to it (ReturnPath).
const connectionsPath = pagePath + "connections"

// revocationTimeout bounds the best-effort revocation at the provider, which the user waits for.
const revocationTimeout = 5 * time.Second

// handleConnections shows the page (GET) and disconnects (POST).
func (s *Service) handleConnections(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.handleDisconnect(w, r)
		return
	}
	user, ok := s.signedInOrLogin(w, r, s.basePath+connectionsPath)
	if !ok {
		return
	}
	var notice string
	if p := s.providers[r.URL.Query().Get("disconnected")]; p != nil {
		notice = "Your " + p.Name + " account was disconnected."
	}
	s.renderConnections(w, r, user, http.StatusOK, notice, "")
}

func (s *Service) renderConnections(w http.ResponseWriter, r *http.Request, user *storage.User, status int, notice, problem string) {
	items, err := s.userConnections(r.Context(), user.ID)
	if err != nil {
		s.pageError(w, r, "connections", err)
		return
	}
	token, err := s.browser.FormToken(w, r)
	if err != nil {
		s.pageError(w, r, "form token", err)
		return
	}
	httpx.RenderPage(r.Context(), w, status, templates.Connections(templates.ConnectionsView{
		Page:        templates.Page{CSRFToken: token},
		UserName:    user.Username,
		Action:      s.basePath + connectionsPath,
		Connections: items,
		Notice:      notice,
		Error:       problem,
	}))
}

// userConnections returns the user's connections, by resource and then provider id.
func (s *Service) userConnections(ctx context.Context, subject string) ([]templates.ConnectionItem, error) {
	resources := make([]string, 0, len(s.resources))
	for uri := range s.resources {
		resources = append(resources, uri)
	}
	slices.Sort(resources)
	providers := make([]string, 0, len(s.providers))
	for id := range s.providers {
		providers = append(providers, id)
	}
	slices.Sort(providers)

	var items []templates.ConnectionItem
	for _, uri := range resources {
		for _, id := range providers {
			rec, err := s.store.GetRecord(ctx, storage.KindConnection, connectionID(uri, subject, id))
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("elicitation: load connection: %w", err)
			}
			res, p := s.resources[uri], s.providers[id]
			item := templates.ConnectionItem{
				ProviderName: p.Name, ServerName: res.Name, ServerURI: uri,
				Since:        rec.CreatedAt.UTC().Format("2 January 2006 at 15:04 UTC"),
				RevokedThere: p.RevocationEndpoint != "",
				Resource:     uri, Provider: id,
			}
			if u, err := url.Parse(p.AuthorizationEndpoint); err == nil {
				item.ProviderHost = u.Host
			}
			items = append(items, item)
		}
	}
	return items, nil
}

// handleDisconnect takes a Disconnect form: CSRF first, then the user, then the connection,
// which is deleted here and, when the provider has a revocation endpoint, revoked there.
func (s *Service) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user, ok := s.postedForm(w, r, "connections page: form refused")
	if !ok {
		return
	}
	resource, provider := r.PostForm.Get("resource"), r.PostForm.Get("provider")
	p := s.providers[provider]
	if s.resources[resource] == nil || p == nil {
		s.renderConnections(w, r, user, http.StatusBadRequest, "", "That account is not one you can disconnect here.")
		return
	}

	// Under the lock a refresh on this instance takes, so that it cannot save the connection
	// again after it was deleted.
	id := connectionID(resource, user.ID, provider)
	unlock := s.refresh.lock(id)
	c, loadErr := s.loadConnection(ctx, resource, user.ID, provider)
	err := s.store.DeleteRecord(ctx, storage.KindConnection, id)
	unlock()
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Already gone (two tabs, or a refresh the provider refused): what the user wanted.
	case err != nil:
		s.pageError(w, r, "disconnect", err)
		return
	default:
		revoked := false
		switch {
		case loadErr != nil:
			// The tokens cannot be opened (the server secret changed, say): the record is gone,
			// and there is nothing to revoke with.
			s.log.WarnContext(ctx, "connections page: connection removed without revocation", "provider", provider, "sub", user.ID, "resource", resource, "error", loadErr)
		case p.RevocationEndpoint != "":
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revocationTimeout)
			err := s.revoke(rctx, p, c.tokens)
			cancel()
			if err != nil {
				// Deleted here all the same; the provider's tokens expire on their own.
				s.log.WarnContext(ctx, "connections page: revocation at the provider failed", "provider", provider, "error", err)
			}
			revoked = err == nil
		}
		s.log.InfoContext(ctx, "connections page: connection removed by its user", "provider", provider, "sub", user.ID, "resource", resource, "revoked_at_provider", revoked)
	}
	http.Redirect(w, r, s.basePath+connectionsPath+"?disconnected="+url.QueryEscape(provider), http.StatusSeeOther)
}

// revoke revokes a connection's tokens at the provider (RFC 7009 §2.1), the refresh token first:
// the provider should then invalidate the access tokens issued with it (§2.1), and the access
// token is revoked too for providers that do not.
func (s *Service) revoke(ctx context.Context, p *Provider, t connectionTokens) error {
	var errs []error
	for _, tok := range []struct{ value, hint string }{{t.RefreshToken, "refresh_token"}, {t.AccessToken, "access_token"}} {
		if tok.value == "" {
			continue
		}
		resp, err := s.providerPost(ctx, p, p.RevocationEndpoint, url.Values{"token": {tok.value}, "token_type_hint": {tok.hint}})
		if err != nil {
			errs = append(errs, fmt.Errorf("revocation endpoint: %w", err))
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxTokenResponse))
		resp.Body.Close()
		// §2.2: 200 whether or not the token was valid; anything else is a failure.
		if resp.StatusCode != http.StatusOK {
			errs = append(errs, fmt.Errorf("revocation endpoint: %s: status %d", tok.hint, resp.StatusCode))
		}
	}
	return errors.Join(errs...)
}
