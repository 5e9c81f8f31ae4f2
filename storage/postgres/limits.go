package postgres

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Size limits, in bytes. They are the same numbers as storage/sqlite's (copied, not imported: a
// backend imports only the contract), so that a record one backend accepts the other accepts too.
// They are far above anything the server writes and exist so that nothing a client manages to
// push through can grow a row without bound. Each is checked before a write.
const (
	maxKey       = 1024     // signatures, IDs, JTIs, subjects, request IDs
	maxURL       = 2048     // client IDs (a CIMD client ID is a URL), resources
	maxKind      = 64       // token kinds, algorithms
	maxListItems = 256      // scopes or audiences in one list
	maxList      = 16 << 10 // a list, JSON-encoded (as storage/sqlite stores it)
	maxForm      = 16 << 10 // Request.Form
	maxSession   = 64 << 10 // Request.Session, BrowserSession.Data
	maxUsername  = 256      // User.Username
	maxUserField = 1024     // PasswordHash, Email, Name
	maxKeyBlob   = 16 << 10 // SigningKey.EncryptedPrivateKey
	maxRecordID  = 2 << 10  // Record.ID (a client's ID may be a URL)
	maxRecord    = 64 << 10 // Record.Data
	maxElicitReq = 16 << 10 // Elicitation.Request
	maxElicitRes = 64 << 10 // Elicitation.Result
	minYear      = 1        // times outside [minYear, maxYear] are refused
	maxYear      = 9999
)

// check collects the first problem with a record's fields. Its methods do nothing once err is set,
// so a record is validated by a straight list of calls and one look at err.
type check struct{ err error }

func (c *check) fail(field, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidInput)
	}
}

// text checks a string's length (and presence, if required). Invalid UTF-8 is refused because
// PostgreSQL refuses it in a UTF-8 database; so is the NUL character, which PostgreSQL's text type
// cannot hold at all. Refusing both here turns what would be a database error into
// ErrInvalidInput, and a lookup by such a key into ErrNotFound.
func (c *check) text(field, v string, limit int, required bool) {
	switch {
	case c.err != nil:
	case required && v == "":
		c.fail(field, "required")
	case len(v) > limit:
		c.fail(field, "%d bytes, limit %d", len(v), limit)
	case !utf8.ValidString(v):
		c.fail(field, "not valid UTF-8")
	case strings.IndexByte(v, 0) >= 0:
		c.fail(field, "contains a NUL character")
	}
}

func (c *check) bytes(field string, v []byte, limit int, required bool) {
	switch {
	case c.err != nil:
	case required && len(v) == 0:
		c.fail(field, "required")
	case len(v) > limit:
		c.fail(field, "%d bytes, limit %d", len(v), limit)
	}
}

// list checks a list and returns it ready for a text[] column: never nil, since pgx sends a nil
// slice as NULL. The size limit applies to the list's JSON encoding, as in storage/sqlite, so
// that both backends accept exactly the same lists.
func (c *check) list(field string, l []string, itemLimit int) []string {
	if c.err != nil {
		return nil
	}
	if len(l) > maxListItems {
		c.fail(field, "%d items, limit %d", len(l), maxListItems)
		return nil
	}
	for _, v := range l {
		c.text(field+" item", v, itemLimit, false)
	}
	if c.err != nil {
		return nil
	}
	if len(l) == 0 {
		return []string{}
	}
	// JSON escapes a byte as at most 6 ("\u003c"), and adds quotes, commas and brackets: if even
	// that could not reach the limit, encoding the list to measure it is wasted work.
	bound := 2 + 3*len(l)
	for _, v := range l {
		bound += 6 * len(v)
	}
	if bound <= maxList {
		return l
	}
	b, err := json.Marshal(l)
	if err != nil {
		c.fail(field, "%v", err)
		return nil
	}
	if len(b) > maxList {
		c.fail(field, "%d bytes encoded, limit %d", len(b), maxList)
		return nil
	}
	return l
}

// oneOf checks that v is one of allowed.
func (c *check) oneOf(field, v string, allowed ...string) {
	if c.err == nil && !slices.Contains(allowed, v) {
		c.fail(field, "%q is not one of %q", v, allowed)
	}
}

// instant is time for a time that must be set.
func (c *check) instant(field string, t time.Time) time.Time {
	if c.err == nil && t.IsZero() {
		c.fail(field, "required")
	}
	return c.time(field, t)
}

// time checks that t is the zero time or a plausible date (see codec.go for how times are
// stored).
func (c *check) time(field string, t time.Time) time.Time {
	if c.err != nil || t.IsZero() {
		return time.Time{}
	}
	if y := t.Year(); y < minYear || y > maxYear {
		c.fail(field, "year %d out of range", y)
		return time.Time{}
	}
	return t
}
