package sqlite

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/mcp-authz/mcp-authz/storage"
)

// encodeTime stores t as microseconds since the Unix epoch; the zero time as 0.
func encodeTime(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// decodeTime is encodeTime's inverse, in UTC.
func decodeTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// encodeList stores a list as a JSON array; nil and empty both become "[]".
func encodeList(l []string) (string, error) {
	if len(l) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// decodeList reads a JSON array; an empty one reads back as nil.
func decodeList(field, s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, fmt.Errorf("sqlite: decode %s: %w", field, err)
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}

// isUnique reports whether err is a primary key or unique constraint violation.
func isUnique(err error) bool {
	var e sqlite3.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.ExtendedCode == sqlite3.ErrConstraintUnique || e.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// badKey is a lookup's answer to a key that could never have been written (empty, over its limit):
// not found, since no such record can exist, and invalid input, to say why. A login form with a
// 10 KB username is a failed login, not a server error.
func badKey(op string, err error) error {
	return fmt.Errorf("sqlite: %s: %w (%w)", op, storage.ErrNotFound, err)
}
