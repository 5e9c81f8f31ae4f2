package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"golang.org/x/time/rate"

	"github.com/mcp-authz/mcp-authz/cimd"
	"github.com/mcp-authz/mcp-authz/config"
	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/elicitation"
	"github.com/mcp-authz/mcp-authz/internal/jwtverify"
	"github.com/mcp-authz/mcp-authz/internal/safehttp"
	"github.com/mcp-authz/mcp-authz/keys"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/storage"
	"github.com/mcp-authz/mcp-authz/storage/postgres"
	"github.com/mcp-authz/mcp-authz/storage/sqlite"
	"github.com/mcp-authz/mcp-authz/web"
)

// Server is a running mcp-authz: an http.Handler and the background work behind it.
type Server struct {
	cfg      *config.Config
	store    storage.Store
	keys     *keys.Manager
	idps     *trustedIdPs // nil: none configured, and the backend cannot hold any
	provider *oauth.Provider
	handler  http.Handler
	log      *slog.Logger
}

// OpenStore opens the database the configuration names, migrating it unless noMigrate.
func OpenStore(ctx context.Context, cfg *config.Config, noMigrate bool) (storage.Store, error) {
	switch cfg.Storage.Driver {
	case "sqlite":
		return sqlite.Open(ctx, cfg.Storage.SQLitePath, sqlite.Options{
			Synchronous: sqlite.Synchronous(cfg.Storage.SQLiteSynchronous),
			NoMigrate:   noMigrate,
		})
	case "postgres":
		return postgres.Open(ctx, cfg.Storage.PostgresDSN, postgres.Options{
			MaxConns:  cfg.Storage.PostgresMaxConns,
			Schema:    cfg.Storage.PostgresSchema,
			NoMigrate: noMigrate,
		})
	default:
		return nil, fmt.Errorf("storage driver %q is not available in this build", cfg.Storage.Driver)
	}
}

// Keys returns the signing-key manager for a store.
func Keys(cfg *config.Config, store storage.Store, log *slog.Logger) (*keys.Manager, error) {
	return keys.NewManager(store, cfg.Secrets.Key, keys.Options{
		// A superseded key stays published while tokens it signed may be valid.
		Retention:       longestAccessTokenLifetime(cfg) + 5*time.Minute,
		ReloadInterval:  cfg.SigningKeys.ReloadInterval.D(),
		ActivationDelay: cfg.SigningKeys.ActivationDelay.D(),
		Logger:          log,
	})
}

// New builds the server on an open store. The caller owns the store (Close closes it).
func New(ctx context.Context, cfg *config.Config, store storage.Store, log *slog.Logger) (*Server, error) {
	if cfg.Secrets.Key == nil {
		return nil, errors.New("server: no secret")
	}
	km, err := Keys(cfg, store, log)
	if err != nil {
		return nil, err
	}
	// EnsureKey logs the key it generates on first start.
	if _, err := km.EnsureKey(ctx); err != nil {
		return nil, err
	}

	resources, err := oauth.NewResources(Resources(cfg))
	if err != nil {
		return nil, err
	}
	outbound, err := Outbound(cfg, log)
	if err != nil {
		return nil, err
	}
	fetchJWKS := JWKSFetcher(outbound)
	static, err := StaticClients(cfg, resources, fetchJWKS)
	if err != nil {
		return nil, err
	}
	var resolver *cimd.Resolver
	if cfg.CIMDEnabled() {
		if resolver, err = cimd.NewResolver(outbound, cimd.Config{
			AllowHosts:       cfg.CIMD.AllowHosts,
			DenyHosts:        cfg.CIMD.DenyHosts,
			MinTTL:           cfg.CIMD.MinCacheTime.D(),
			MaxTTL:           cfg.CIMD.MaxCacheTime.D(),
			MaxDocumentBytes: cfg.CIMD.MaxDocumentBytes,
			// A changed document (new redirect URIs or keys) may belong to a new owner of the
			// domain: what the user consented to before no longer stands (CIMD-01 §6.3).
			OnChange: func(clientID string) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				n, err := store.DeleteClientConsents(ctx, clientID)
				if err != nil {
					log.Error("dropping consent of a changed client failed", "client_id", clientID, "error", err)
					return
				}
				log.Info("client metadata document changed: remembered consent dropped", "client_id", clientID, "consents", n)
			},
			Logger: log.With("component", "cimd"),
		}); err != nil {
			return nil, err
		}
	}
	clientOpts := oauth.ClientsOptions{FetchJWKS: fetchJWKS, CIMDClientCredentials: cfg.CIMD.AllowClientCredentials}
	if records, ok := store.(oauth.RecordStore); ok {
		clientOpts.Records = records // clients registered with "mcp-authz clients add" or /register
	}
	clients := oauth.NewClients(static, resolver, resources, clientOpts)
	upstream, err := UpstreamLogin(cfg, resources, store, log)
	if err != nil {
		return nil, err
	}
	browser, err := consent.New(consent.Options{
		Store:           store,
		Issuer:          cfg.Issuer,
		Secret:          cfg.Secrets.Key,
		SessionLifetime: cfg.Login.SessionLifetime.D(),
		MaxFailures:     cfg.Login.MaxFailures,
		FailureWindow:   cfg.Login.FailureWindow.D(),
		// The elicitation pages need our login first, and the login page then returns there.
		ReturnPaths:     []string{elicitation.ReturnPath},
		Upstream:        upstream,
		NoLocalAccounts: !cfg.LocalAccountsEnabled(),
		Logger:          log.With("component", "consent"),
	})
	if err != nil {
		return nil, err
	}
	idps, err := newTrustedIdPs(ctx, cfg, resources, store, fetchJWKS, log)
	if err != nil {
		return nil, err
	}
	var (
		exchanger  oauth.AssertionExchanger
		trustsIdPs func() bool
	)
	if idps != nil {
		exchanger, trustsIdPs = idps.Exchange, idps.Trusts
	}
	var registration *oauth.Registration
	if cfg.DynamicRegistration.Enabled {
		records, ok := store.(oauth.RecordWriter)
		if !ok {
			return nil, errors.New("dynamic registration: this storage backend does not keep registered clients")
		}
		registration = &oauth.Registration{Records: records, PerAddress: cfg.DynamicRegistration.PerAddressPerHour}
	}
	provider, err := oauth.New(oauth.Options{
		Registration:                 registration,
		Issuer:                       cfg.Issuer,
		Secret:                       cfg.Secrets.Key,
		Tokens:                       store,
		Signer:                       km,
		Resources:                    resources,
		Clients:                      clients,
		Consent:                      browser,
		Exchanger:                    exchanger,
		TrustsIdPs:                   trustsIdPs,
		CIMD:                         clients.CIMDEnabled(),
		AuthorizationCodeLifetime:    cfg.Tokens.AuthorizationCodeLifetime.D(),
		AccessTokenLifetime:          cfg.Tokens.AccessTokenLifetime.D(),
		RefreshTokenLifetime:         cfg.Tokens.RefreshTokenLifetime.D(),
		RefreshGracePeriod:           cfg.Tokens.RefreshGracePeriod.D(),
		RefreshOnlyWithOfflineAccess: cfg.Tokens.RefreshTokens == "offline_access",
		Logger:                       log.With("component", "oauth"),
	})
	if err != nil {
		return nil, err
	}

	elicit, err := newElicitation(cfg, store, provider, browser, km, outbound, log)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	provider.Register(mux)
	browser.Register(mux)
	if elicit != nil {
		elicit.Register(mux)
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticFiles()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	return &Server{cfg: cfg, store: store, keys: km, idps: idps, provider: provider, handler: recoverPanics(mux, log), log: log}, nil
}

// Handler is the HTTP handler of the whole server.
func (s *Server) Handler() http.Handler { return s.handler }

// KeyManager exposes the signing keys (the CLI rotates them; tests inspect them).
func (s *Server) KeyManager() *keys.Manager { return s.keys }

// Run does the background work until ctx ends: it picks up keys rotated by another instance or
// the CLI, and deletes expired codes, tokens and sessions.
func (s *Server) Run(ctx context.Context) {
	go s.keys.Run(ctx)
	if s.idps != nil {
		go s.idps.Run(ctx, s.cfg.SigningKeys.ReloadInterval.D())
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := s.store.DeleteExpired(ctx, time.Now())
			if err != nil && ctx.Err() == nil {
				s.log.Error("cleanup of expired records failed", "error", err)
			} else if n > 0 {
				s.log.Debug("deleted expired records", "count", n)
			}
		}
	}
}

// HTTPServer returns an http.Server for the handler with limits on headers and slow clients.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Listen,
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Outbound builds the HTTP client every outbound fetch goes through.
func Outbound(cfg *config.Config, log *slog.Logger) (*safehttp.Client, error) {
	sc, err := outboundConfig(cfg, log.With("component", "outbound"))
	if err != nil {
		return nil, err
	}
	if o := cfg.Outbound; len(o.TestHosts) > 0 {
		log.Warn("TEST HOSTS ARE EXEMPT FROM THE OUTBOUND ADDRESS RULES: never use this in production", "test_hosts", o.TestHosts)
	}
	return safehttp.NewClient(sc)
}

// outboundConfig is the configuration's outbound rules (timeout, per-host rate, test hosts and
// their CA) as a safehttp configuration, for every outbound client the server makes.
func outboundConfig(cfg *config.Config, log *slog.Logger) (safehttp.Config, error) {
	o := cfg.Outbound
	sc := safehttp.Config{
		Timeout:   o.Timeout.D(),
		HostRate:  rate.Limit(o.HostRate),
		HostBurst: o.HostBurst,
		TestHosts: o.TestHosts,
		Logger:    log,
	}
	if o.TestCAFile != "" {
		pem, err := os.ReadFile(o.TestCAFile)
		if err != nil {
			return sc, fmt.Errorf("outbound.test_ca_file: %w", err)
		}
		sc.TestRootCAs = x509.NewCertPool()
		if !sc.TestRootCAs.AppendCertsFromPEM(pem) {
			return sc, fmt.Errorf("outbound.test_ca_file: no PEM certificate in %s", o.TestCAFile)
		}
	}
	return sc, nil
}

// Resources converts configured resources.
func Resources(cfg *config.Config) []oauth.Resource {
	out := make([]oauth.Resource, 0, len(cfg.Resources))
	for _, r := range cfg.Resources {
		res := oauth.Resource{
			URI:                 r.URI,
			Name:                r.Name,
			DefaultScopes:       r.DefaultScopes,
			AccessTokenLifetime: r.AccessTokenLifetime.D(),
		}
		if res.AccessTokenLifetime == 0 {
			res.AccessTokenLifetime = cfg.Tokens.AccessTokenLifetime.D()
		}
		for _, s := range r.Scopes {
			res.Scopes = append(res.Scopes, oauth.Scope{Name: s.Name, Description: s.Description})
		}
		out = append(out, res)
	}
	return out
}

// JWKSFetcher fetches key sets through the outbound client (no special-use addresses, size and
// time limits).
func JWKSFetcher(outbound *safehttp.Client) jwtverify.Fetcher {
	return func(ctx context.Context, url string) ([]byte, error) {
		resp, err := outbound.Get(ctx, url, safehttp.Options{JSON: true, MaxBodyBytes: 64 << 10})
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
}

// StaticClients converts the pre-registered clients.
func StaticClients(cfg *config.Config, resources *oauth.Resources, fetchJWKS jwtverify.Fetcher) (oauth.StaticClients, error) {
	var list []*oauth.Client
	for _, c := range cfg.Clients {
		cl := &oauth.Client{
			ID:           c.ID,
			Name:         c.Name,
			RedirectURIs: c.RedirectURIs,
			GrantTypes:   c.GrantTypes,
			AuthMethod:   c.TokenEndpointAuthMethod,
			Scopes:       c.Scopes,
		}
		if c.SecretHash != "" {
			cl.SecretHash = []byte(c.SecretHash)
		}
		switch {
		case c.JWKS != nil:
			doc, err := json.Marshal(c.JWKS)
			if err != nil {
				return nil, fmt.Errorf("client %s: jwks: %w", c.ID, err)
			}
			if cl.Keys, err = jwtverify.NewStaticKeySet(doc); err != nil {
				return nil, fmt.Errorf("client %s: jwks: %w", c.ID, err)
			}
		case c.JWKSURI != "":
			cl.Keys = jwtverify.NewRemoteKeySet(c.JWKSURI, fetchJWKS, 0, 0, nil)
		}
		for _, uri := range c.Resources {
			r, err := resources.Lookup(uri)
			if err != nil {
				return nil, fmt.Errorf("client %s: %w", c.ID, err)
			}
			cl.Resources = append(cl.Resources, r)
		}
		list = append(list, cl)
	}
	return oauth.NewStaticClients(resources, list), nil
}

func longestAccessTokenLifetime(cfg *config.Config) time.Duration {
	longest := cfg.Tokens.AccessTokenLifetime.D()
	for _, r := range cfg.Resources {
		longest = max(longest, r.AccessTokenLifetime.D())
	}
	return longest
}

func staticFiles() http.Handler {
	fs := http.FileServerFS(web.Static())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fs.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic in a handler into a 500 and a log line: bad input must never take
// the process down.
func recoverPanics(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic serving request", "path", r.URL.Path, "panic", v)
				http.Error(w, "internal server error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
