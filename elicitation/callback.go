package elicitation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// A resource with a callback URL is told when one of its elicitations completes, so that its
// server can send notifications/elicitation/complete without polling. The notice is a JWT
// signed with our current signing key (verify it with our JWKS), posted as application/jwt. It
// says which elicitation and how it ended, nothing more: the result itself is read with an
// authenticated API request, so a secret never travels to a URL.

// CallbackType is the JWT typ of a completion notice (RFC 8725 §3.11: explicit typing, so that
// no other JWT of ours passes for one).
const CallbackType = "elicitation-complete+jwt"

// callbackClaims are a notice's claims.
type callbackClaims struct {
	Issuer        string `json:"iss"`
	Audience      string `json:"aud"` // the resource
	IssuedAt      int64  `json:"iat"`
	Expiry        int64  `json:"exp"`
	ID            string `json:"jti"`
	ElicitationID string `json:"elicitation_id"`
	Status        string `json:"status"`
}

// callbackAttempts and callbackBackoff: a few tries over about half a minute; a server that
// misses them all can still poll.
const (
	callbackAttempts = 3
	callbackBackoff  = 2 * time.Second
)

// postCallback delivers a notice in the background.
func (s *Service) postCallback(r *Resource, id, status string) {
	now := s.now()
	payload, err := json.Marshal(callbackClaims{
		Issuer: s.issuer, Audience: r.URI, IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(),
		ID: randomString(), ElicitationID: id, Status: status,
	})
	if err != nil {
		s.log.Error("elicitation callback: encode", "error", err)
		return
	}
	jwt, err := s.signer.SignJWT(payload, CallbackType)
	if err != nil {
		s.log.Error("elicitation callback: sign", "error", err)
		return
	}
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for attempt := 1; ; attempt++ {
			err := s.deliver(ctx, r.Callback, jwt)
			if err == nil {
				s.log.Info("elicitation callback: delivered", "ref", ref(id), "resource", r.URI)
				return
			}
			if attempt == callbackAttempts {
				s.log.Warn("elicitation callback: not delivered", "ref", ref(id), "resource", r.URI, "error", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(callbackBackoff * time.Duration(attempt)):
			}
		}
	}()
}

func (s *Service) deliver(ctx context.Context, target, jwt string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader([]byte(jwt)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/jwt")
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
