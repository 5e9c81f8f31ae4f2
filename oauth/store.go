package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/mcp-authz/mcp-authz/storage"
)

// fositeStore adapts our storage contract to the storage interfaces fosite's handlers ask for.
//
// fosite's "transactions" (BeginTX, Commit) become one [storage.Tokens.Apply]: writes made under a
// transaction context are collected and applied together at Commit. That is what makes a code
// redemption (invalidate the code, create the access and refresh tokens) all-or-nothing, and it
// is where a lost race shows: the second redemption's DeactivateToken fails with ErrInactive.
type fositeStore struct {
	tokens       storage.Tokens
	clients      ClientSource
	now          func() time.Time
	refreshGrace time.Duration
}

var (
	_ fosite.ClientManager                = (*fositeStore)(nil)
	_ fositeoauth2.CoreStorage            = (*fositeStore)(nil)
	_ fositeoauth2.TokenRevocationStorage = (*fositeStore)(nil)
	_ pkce.PKCERequestStorage             = (*fositeStore)(nil)
	_ fositestorage.Transactional         = (*fositeStore)(nil)
)

type txKey struct{}

type pendingWrites struct{ changes []storage.Change }

func (s *fositeStore) BeginTX(ctx context.Context) (context.Context, error) {
	return context.WithValue(ctx, txKey{}, &pendingWrites{}), nil
}

func (s *fositeStore) Commit(ctx context.Context) error {
	tx, ok := ctx.Value(txKey{}).(*pendingWrites)
	if !ok {
		return nil
	}
	changes := tx.changes
	tx.changes = nil
	if len(changes) == 0 {
		return nil
	}
	return s.tokens.Apply(ctx, changes...)
}

func (s *fositeStore) Rollback(ctx context.Context) error {
	if tx, ok := ctx.Value(txKey{}).(*pendingWrites); ok {
		tx.changes = nil
	}
	return nil
}

func (s *fositeStore) apply(ctx context.Context, c storage.Change) error {
	if tx, ok := ctx.Value(txKey{}).(*pendingWrites); ok {
		tx.changes = append(tx.changes, c)
		return nil
	}
	return s.tokens.Apply(ctx, c)
}

// approvedRedirectKey carries a loopback redirect URI our matcher accepted for a client; see
// Client.withRedirectURI.
type approvedRedirectKey struct{}

type approvedRedirect struct{ clientID, uri string }

func withApprovedRedirect(ctx context.Context, clientID, uri string) context.Context {
	return context.WithValue(ctx, approvedRedirectKey{}, approvedRedirect{clientID, uri})
}

// GetClient implements fosite.ClientManager.
func (s *fositeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.clients.Client(ctx, id)
	if err != nil {
		// Unknown, or a metadata document that could not be fetched or is invalid: either way
		// the client cannot authenticate (fosite answers invalid_client).
		return nil, fosite.ErrNotFound.WithWrap(err).WithDebugf("client %q: %v", id, err)
	}
	if a, ok := ctx.Value(approvedRedirectKey{}).(approvedRedirect); ok && a.clientID == id {
		return c.withRedirectURI(a.uri), nil
	}
	return c, nil
}

// ClientAssertionJWTValid is asked before SetClientAssertionJWT; the single-use check is made
// atomically by the latter, so here nothing is known yet.
func (s *fositeStore) ClientAssertionJWTValid(context.Context, string) error { return nil }

// SetClientAssertionJWT records a client assertion's jti (RFC 7523 §3: a jti is used once).
func (s *fositeStore) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.tokens.Apply(ctx, storage.UseJTI{JTI: "client_assertion:" + jti, ExpiresAt: exp})
	if errors.Is(err, storage.ErrConflict) {
		return fosite.ErrJTIKnown
	}
	return err
}

func (s *fositeStore) create(ctx context.Context, kind storage.TokenKind, expiryOf fosite.TokenType, signature string, req fosite.Requester) error {
	t, err := s.record(kind, signature, req, expiryOf)
	if err != nil {
		return err
	}
	return s.apply(ctx, storage.CreateToken{Token: t})
}

func (s *fositeStore) CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.create(ctx, storage.AuthorizationCode, fosite.AuthorizeCode, code, req)
}

func (s *fositeStore) GetAuthorizeCodeSession(ctx context.Context, code string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.AuthorizationCode, code, sess, fosite.ErrInvalidatedAuthorizeCode)
}

func (s *fositeStore) InvalidateAuthorizeCodeSession(ctx context.Context, code string) error {
	return s.apply(ctx, storage.DeactivateToken{Kind: storage.AuthorizationCode, Signature: code})
}

func (s *fositeStore) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.create(ctx, storage.PKCE, fosite.AuthorizeCode, signature, req)
}

func (s *fositeStore) GetPKCERequestSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.PKCE, signature, sess, fosite.ErrNotFound)
}

// DeletePKCERequestSession is called as soon as a verifier is checked, right or wrong, so that a
// code whose verifier was guessed wrong cannot be tried again.
func (s *fositeStore) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.tokens.Apply(ctx, storage.DeleteToken{Kind: storage.PKCE, Signature: signature})
}

func (s *fositeStore) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.create(ctx, storage.AccessToken, fosite.AccessToken, signature, req)
}

func (s *fositeStore) GetAccessTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.AccessToken, signature, sess, fosite.ErrInactiveToken)
}

func (s *fositeStore) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.apply(ctx, storage.DeleteToken{Kind: storage.AccessToken, Signature: signature})
}

func (s *fositeStore) CreateRefreshTokenSession(ctx context.Context, signature, _ string, req fosite.Requester) error {
	return s.create(ctx, storage.RefreshToken, fosite.RefreshToken, signature, req)
}

// GetRefreshTokenSession returns an inactive (rotated) refresh token as active while its grace
// window lasts, so that a client retrying a refresh whose answer it lost is not taken for a
// thief; after the window, fosite sees ErrInactiveToken and revokes the whole grant (OAuth 2.1
// §4.3.1 reuse detection).
func (s *fositeStore) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	t, err := s.tokens.GetToken(ctx, storage.RefreshToken, signature)
	if err != nil {
		return nil, mapNotFound(err)
	}
	req, err := s.request(ctx, t, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		inGrace := !t.RotatedAt.IsZero() && s.now().Sub(t.RotatedAt) < s.refreshGrace
		if !inGrace {
			return req, fosite.ErrInactiveToken
		}
	}
	return req, nil
}

func (s *fositeStore) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.apply(ctx, storage.DeleteToken{Kind: storage.RefreshToken, Signature: signature})
}

func (s *fositeStore) RotateRefreshToken(ctx context.Context, _ string, signature string) error {
	return s.apply(ctx, storage.RotateRefreshToken{Signature: signature, At: s.now(), Grace: s.refreshGrace})
}

func (s *fositeStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.apply(ctx, storage.RevokeRequest{Kind: storage.RefreshToken, RequestID: requestID})
}

func (s *fositeStore) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.apply(ctx, storage.RevokeRequest{Kind: storage.AccessToken, RequestID: requestID})
}

func (s *fositeStore) get(ctx context.Context, kind storage.TokenKind, signature string, sess fosite.Session, inactive error) (fosite.Requester, error) {
	t, err := s.tokens.GetToken(ctx, kind, signature)
	if err != nil {
		return nil, mapNotFound(err)
	}
	req, err := s.request(ctx, t, sess)
	if err != nil {
		return nil, err
	}
	if !t.Active {
		// fosite needs the request with the error, to revoke what the grant issued.
		return req, inactive
	}
	return req, nil
}

func mapNotFound(err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fosite.ErrNotFound.WithWrap(err)
	}
	return err
}

// record turns a fosite request into a storage record. An access token's record carries the
// audience and scopes of that token (the session's Token fields), so that introspection reports
// what the token can do rather than the whole grant.
func (s *fositeStore) record(kind storage.TokenKind, signature string, req fosite.Requester, expiryOf fosite.TokenType) (storage.Token, error) {
	sess, ok := req.GetSession().(*Session)
	if !ok {
		return storage.Token{}, fmt.Errorf("oauth: unexpected session type %T", req.GetSession())
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return storage.Token{}, err
	}
	scopes, aud := []string(req.GetGrantedScopes()), []string(req.GetGrantedAudience())
	if kind == storage.AccessToken {
		scopes, aud = sess.TokenScopes, sess.TokenAudience
	}
	expires := sess.GetExpiresAt(expiryOf)
	if expires.IsZero() {
		// fosite leaves a refresh token without lifetime unset; storage still needs an end.
		expires = s.now().Add(365 * 24 * time.Hour)
	}
	return storage.Token{
		Kind:      kind,
		Signature: signature,
		Active:    true,
		ExpiresAt: expires,
		Request: storage.Request{
			ID:                req.GetID(),
			ClientID:          req.GetClient().GetID(),
			Subject:           sess.Subject,
			RequestedAt:       req.GetRequestedAt(),
			RequestedScopes:   req.GetRequestedScopes(),
			GrantedScopes:     scopes,
			RequestedAudience: req.GetRequestedAudience(),
			GrantedAudience:   aud,
			Form:              req.GetRequestForm().Encode(),
			Session:           data,
		},
	}, nil
}

// request rebuilds the fosite request of a record, hydrating sess (fosite passes the session of
// the request being handled; it may be nil).
func (s *fositeStore) request(ctx context.Context, t *storage.Token, sess fosite.Session) (*fosite.Request, error) {
	client, err := s.clients.Client(ctx, t.Request.ClientID)
	if err != nil {
		// A client removed since the token was issued cannot use it any more.
		return nil, fosite.ErrNotFound.WithWrap(err)
	}
	if sess == nil {
		sess = new(Session)
	}
	if len(t.Request.Session) == 0 {
		// A machine grant's access token (issue.go) stores no session: rebuild it from the
		// record, which holds all of it.
		s, ok := sess.(*Session)
		if !ok {
			return nil, fmt.Errorf("oauth: unexpected session type %T", sess)
		}
		*s = Session{
			Subject:        t.Request.Subject,
			ExpiresAt:      map[fosite.TokenType]time.Time{fosite.AccessToken: t.ExpiresAt},
			GrantResources: t.Request.GrantedAudience, GrantScopes: t.Request.GrantedScopes,
			TokenAudience: t.Request.GrantedAudience, TokenScopes: t.Request.GrantedScopes,
		}
	} else if err := json.Unmarshal(t.Request.Session, sess); err != nil {
		return nil, fmt.Errorf("oauth: stored session of %s: %w", t.Kind, err)
	}
	form, err := url.ParseQuery(t.Request.Form)
	if err != nil {
		return nil, fmt.Errorf("oauth: stored form of %s: %w", t.Kind, err)
	}
	return &fosite.Request{
		ID:                t.Request.ID,
		RequestedAt:       t.Request.RequestedAt,
		Client:            client,
		RequestedScope:    fosite.Arguments(t.Request.RequestedScopes),
		GrantedScope:      fosite.Arguments(t.Request.GrantedScopes),
		RequestedAudience: fosite.Arguments(t.Request.RequestedAudience),
		GrantedAudience:   fosite.Arguments(t.Request.GrantedAudience),
		Form:              form,
		Session:           sess,
	}, nil
}
