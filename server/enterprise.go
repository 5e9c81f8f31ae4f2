package server

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/enterprise"
	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
)

// trustedIdPs is the enterprise exchanger over the identity providers of the configuration and
// of the database ("mcp-authz idps add"). The database's list is re-read periodically, so that
// an IdP added or removed by the CLI takes effect on every instance without a restart.
type trustedIdPs struct {
	fromConfig []enterprise.IdP
	records    storage.Records // nil: the backend keeps no records
	opts       enterprise.Options
	log        *slog.Logger

	current atomic.Pointer[enterprise.Exchanger]
	lastSum [32]byte // of the database's IdP records, to rebuild only on change
}

// newTrustedIdPs loads the IdPs. It returns nil only when none is configured and the backend
// keeps no records (so none can be added later); otherwise the set is reloaded while the server
// runs, and the jwt-bearer grant is served and advertised while it is not empty (Trusts).
func newTrustedIdPs(ctx context.Context, cfg *config.Config, resources *oauth.Resources, store storage.Store, fetch jwtverify.Fetcher, log *slog.Logger) (*trustedIdPs, error) {
	fromConfig, err := ConfigIdPs(cfg)
	if err != nil {
		return nil, err
	}
	t := &trustedIdPs{fromConfig: fromConfig, opts: EnterpriseOptions(cfg, resources, store, fetch, log), log: log}
	t.records, _ = store.(storage.Records)
	if len(fromConfig) == 0 && t.records == nil {
		return nil, nil
	}
	if err := t.reload(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// Trusts reports whether any identity provider is trusted now.
func (t *trustedIdPs) Trusts() bool { return t.current.Load() != nil }

// Exchange is the oauth.AssertionExchanger. enterprise.Request and Grant have oauth's fields in
// oauth's order, so they convert.
func (t *trustedIdPs) Exchange(ctx context.Context, r oauth.AssertionRequest) (oauth.AssertionGrant, error) {
	ex := t.current.Load()
	if ex == nil {
		return oauth.AssertionGrant{}, &enterprise.Error{Code: "invalid_grant", Description: "No identity provider is trusted."}
	}
	g, err := ex.Exchange(ctx, enterprise.Request(r))
	return oauth.AssertionGrant(g), err
}

// reload rebuilds the exchanger when the database's IdPs changed (always the first time).
func (t *trustedIdPs) reload(ctx context.Context) error {
	idps := append([]enterprise.IdP(nil), t.fromConfig...)
	h := sha256.New()
	if t.records != nil {
		recs, err := t.records.ListRecords(ctx, storage.KindIdP)
		if err != nil {
			return fmt.Errorf("identity providers: %w", err)
		}
		for _, r := range recs {
			var idp enterprise.IdP
			if err := json.Unmarshal(r.Data, &idp); err != nil {
				t.log.Error("identity provider record unreadable; skipped", "issuer", r.ID, "error", err)
				continue
			}
			h.Write(r.Data)
			idps = append(idps, idp)
		}
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if t.current.Load() != nil && sum == t.lastSum {
		return nil
	}
	if len(idps) == 0 {
		t.current.Store(nil)
		t.lastSum = sum
		return nil
	}
	ex, err := enterprise.New(idps, t.opts)
	if err != nil {
		return err
	}
	t.current.Store(ex)
	t.lastSum = sum
	for _, p := range idps {
		t.log.Info("trusting an identity provider for ID-JAGs", "issuer", p.Issuer, "clients", p.Clients, "resources", p.Resources, "scopes", p.Scopes)
	}
	return nil
}

// Run re-reads the database's IdPs every interval until ctx ends; a bad list keeps the last good one.
func (t *trustedIdPs) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.reload(ctx); err != nil && !errors.Is(err, context.Canceled) {
				t.log.Error("reloading identity providers failed; keeping the previous set", "error", err)
			}
		}
	}
}

// ConfigIdPs converts the configuration's identity providers.
func ConfigIdPs(cfg *config.Config) ([]enterprise.IdP, error) {
	idps := make([]enterprise.IdP, 0, len(cfg.IdentityProviders))
	for _, p := range cfg.IdentityProviders {
		idp := enterprise.IdP{
			Issuer: p.Issuer, JWKSURI: p.JWKSURI,
			Clients: p.Clients, Resources: p.Resources, Scopes: p.Scopes,
			ResourceOptional:     p.RequireResource != nil && !*p.RequireResource,
			MaxAssertionLifetime: p.MaxAssertionLifetime.D(),
			Algorithms:           p.Algorithms,
		}
		if p.JWKS != nil {
			doc, err := json.Marshal(p.JWKS)
			if err != nil {
				return nil, fmt.Errorf("identity provider %s: jwks: %w", p.Issuer, err)
			}
			idp.JWKS = doc
		}
		idps = append(idps, idp)
	}
	return idps, nil
}

// EnterpriseOptions are the exchanger's options: our issuer, our resources, where users go.
func EnterpriseOptions(cfg *config.Config, resources *oauth.Resources, users enterprise.Users, fetch jwtverify.Fetcher, log *slog.Logger) enterprise.Options {
	return enterprise.Options{
		Issuer: cfg.Issuer,
		Resource: func(uri string) (enterprise.Resource, bool) {
			r, err := resources.Lookup(uri)
			if err != nil {
				return enterprise.Resource{}, false
			}
			out := enterprise.Resource{URI: r.URI}
			for _, s := range r.Scopes {
				out.Scopes = append(out.Scopes, s.Name)
			}
			return out, true
		},
		Users:  users,
		Fetch:  fetch,
		Logger: log.With("component", "enterprise"),
	}
}
