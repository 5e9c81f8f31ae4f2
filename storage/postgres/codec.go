package postgres

import (
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mcp-authz/mcp-authz/storage"
)

// The zero time.Time is stored as it is: pgx sends it as 0001-01-01 00:00:00 UTC, which
// timestamptz holds exactly. Every time column is NOT NULL and "no time" is this instant, the
// earliest a record can hold (minYear is 1), so that comparisons need no NULL cases and behave as
// storage/sqlite's 0: a zero expiry is long past, a zero rotated_at means "never rotated".
// timestamptz keeps microseconds; pgx truncates the rest.

// decodeTime returns a stored time in UTC; the stored zero time comes back as the zero time.
func decodeTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// decodeList returns a text[] value; an empty one reads back as nil, as in storage/sqlite.
func decodeList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// SQLSTATEs this package acts on.
const (
	sqlstateUniqueViolation      = "23505"
	sqlstateCheckViolation       = "23514"
	sqlstateSerializationFailure = "40001"
	sqlstateDeadlockDetected     = "40P01"
)

// The CHECK constraints of the change_refused table (see migrations/0001_init.sql), by which a
// conditional change inside Apply aborts its transaction and says why.
const (
	refusedNotFound = "token_not_found"
	refusedInactive = "token_inactive"
	refusedJTIInUse = "jti_in_use"
)

func pgCode(err error) (code, constraint string) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code, pe.ConstraintName
	}
	return "", ""
}

// isUnique reports whether err is a primary key or unique constraint violation.
func isUnique(err error) bool {
	code, _ := pgCode(err)
	return code == sqlstateUniqueViolation
}

// retryable reports whether err means the transaction lost a conflict with another and running it
// again may succeed: a serialization failure (which a distributed engine such as CockroachDB
// returns for any contended write) or a deadlock (PostgreSQL picks one transaction of a cycle to
// abort). Nothing of the aborted transaction was applied.
func retryable(err error) bool {
	code, _ := pgCode(err)
	return code == sqlstateSerializationFailure || code == sqlstateDeadlockDetected
}

// refusal maps the error of a conditional change to the storage error it stands for, or returns
// nil if err is not a refusal.
func refusal(err error) error {
	code, constraint := pgCode(err)
	switch {
	case code == sqlstateUniqueViolation:
		return storage.ErrConflict
	case code != sqlstateCheckViolation:
		return nil
	case constraint == refusedNotFound:
		return storage.ErrNotFound
	case constraint == refusedInactive:
		return storage.ErrInactive
	case constraint == refusedJTIInUse:
		return storage.ErrConflict
	}
	return nil
}

// badKey is a lookup's answer to a key that could never have been written (empty, over its limit):
// not found, since no such record can exist, and invalid input, to say why. A login form with a
// 10 KB username is a failed login, not a server error.
func badKey(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w (%w)", op, storage.ErrNotFound, err)
}
