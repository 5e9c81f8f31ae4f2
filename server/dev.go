package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/storage"
)

// DevelopmentSecret returns the secret kept in dataDir/secret, creating it (mode 0600) on first
// use. Only the embedded development configuration uses it: a secret next to the database it
// protects protects little, which is fine on a laptop and wrong anywhere else.
func DevelopmentSecret(dataDir string) ([]byte, bool, error) {
	path := filepath.Join(dataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		return []byte(strings.TrimSpace(string(b))), false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, err
	}
	var b [48]byte
	_, _ = rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, false, err
	}
	return []byte(secret), true, nil
}

// DemoUsername is the development configuration's user.
const DemoUsername = "demo"

// EnsureDemoUser creates the demo user on first start, with a random password kept in
// dataDir/demo-password so that later starts can print it again.
func EnsureDemoUser(ctx context.Context, users storage.Users, dataDir string) (password string, err error) {
	path := filepath.Join(dataDir, "demo-password")
	if _, err := users.GetUserByUsername(ctx, DemoUsername); err == nil {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", nil // created by hand, or the file was removed: nothing to print
		}
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return "", err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	password = base64.RawURLEncoding.EncodeToString(b[:])
	hash, err := consent.HashPassword(password)
	if err != nil {
		return "", err
	}
	if err := users.CreateUser(ctx, storage.User{
		ID: NewUserID(), Username: DemoUsername, PasswordHash: hash, Name: "Demo User", CreatedAt: time.Now().UTC(),
	}); err != nil {
		return "", fmt.Errorf("create demo user: %w", err)
	}
	if err := os.WriteFile(path, []byte(password+"\n"), 0o600); err != nil {
		return "", err
	}
	return password, nil
}

// NewUserID is a fresh, never reused subject identifier.
func NewUserID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "u_" + base64.RawURLEncoding.EncodeToString(b[:])
}
