package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Coalesced lookups.
//
// GetToken runs on every token request, and a lookup by primary key costs PostgreSQL little next
// to the round trip that carries it. So lookups that arrive while others are under way are sent
// together: a reader goroutine takes every lookup waiting (up to maxBatch) and sends them in one
// pipelined batch, one round trip, then hands each caller its row. Each is its own statement with
// its own snapshot, so a lookup still sees everything committed before it was sent.

type readReq struct {
	sql   string
	args  []any
	dest  []any
	state atomic.Int32
	done  chan error // buffered: a reader never blocks on a caller that left
}

// lookup queues a one-row query for the readers and scans its row into dest. pgx.ErrNoRows is
// returned unwrapped for the caller to turn into ErrNotFound. A caller whose context ends stops
// waiting at once; a lookup already sent is answered to no one.
func (s *Store) lookup(ctx context.Context, what, sql string, args []any, dest ...any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: %s: %w", what, err)
	}
	r := &readReq{sql: sql, args: args, dest: dest, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.lookups <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("postgres: %s: %w", what, ctx.Err())
	}
	select {
	case err := <-r.done:
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("postgres: %s: %w", what, err)
		}
		return err
	case <-ctx.Done():
		r.state.Store(stateAbandoned)
		return fmt.Errorf("postgres: %s: %w", what, ctx.Err())
	}
}

// runReader is one reader goroutine. It exits when Close has closed the queue and every lookup in
// it has been answered.
func (s *Store) runReader() {
	defer s.readers.Done()
	batch := make([]*readReq, 0, maxBatch)
	for {
		r, ok := <-s.lookups
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.lookups:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		taken := batch[:0]
		for _, r := range batch {
			if r.state.Load() != stateAbandoned {
				taken = append(taken, r)
			}
		}
		s.sendLookups(taken)
		clear(batch[:cap(batch)])
	}
}

// sendLookups answers a batch of lookups, in one round trip if there are several.
func (s *Store) sendLookups(batch []*readReq) {
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	one := func(r *readReq) error {
		return s.retry(ctx, "lookup", func() error {
			c, err := s.acquire(ctx, "lookup")
			if err != nil {
				return err
			}
			defer c.Release()
			return c.QueryRow(ctx, r.sql, r.args...).Scan(r.dest...)
		})
	}
	if len(batch) == 1 {
		batch[0].done <- one(batch[0])
		return
	}
	c, err := s.acquire(ctx, "lookup")
	if err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(batch))}
	for _, r := range batch {
		b.Queue(r.sql, r.args...)
	}
	br := c.SendBatch(ctx, b)
	failed := len(batch)
	for i, r := range batch {
		err := br.QueryRow().Scan(r.dest...)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			// After an error the server skips the rest of the batch.
			failed = i
			break
		}
		r.done <- err
	}
	br.Close()
	c.Release()
	// Whatever failed (a lost conflict, which only distributed engines report for a read, or a
	// broken connection) is looked up again on its own.
	for _, r := range batch[failed:] {
		r.done <- one(r)
	}
}
