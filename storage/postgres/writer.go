package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Group commit.
//
// Most of what a transaction costs PostgreSQL does not depend on how much it writes: the round
// trip, BEGIN and COMMIT, the WAL flush, waking the backend. Measured on the token endpoint's
// writes, a redemption's three statements are a minor part of it. So, as storage/sqlite does,
// Apply calls that arrive while others are being committed are committed together: a few writer
// goroutines each take every request waiting in the queue (up to maxBatch), run them in order as
// one transaction in one round trip, and answer all of them.
//
// Requests almost never fail (a failure is a code redeemed twice, a jti replayed, a lost
// conflict). When one does, the whole transaction is rolled back, and every request of the batch
// is then applied in a transaction of its own, exactly as if it had never been batched: the
// failing one gets its own error, and the others cannot be spoiled by it, nor by what an earlier
// request of the batch did that will now not be committed. (PostgreSQL's savepoints cannot help
// here: after an error in a pipeline the server skips everything up to its end, so a rollback to a
// savepoint costs a round trip anyway.)

const (
	// maxBatch is the most requests committed together; maxBatchStmts stops adding requests to a
	// batch once it has that many statements, so that a batch stays one modest transaction.
	maxBatch      = 64
	maxBatchStmts = 256
)

// Request states. A request moves from pending to exactly one of taken (by a writer, which then
// always answers) or abandoned (by its caller, whose context ended first; the writers skip it).
const (
	statePending int32 = iota
	stateTaken
	stateAbandoned
)

type applyReq struct {
	stmts []stmt
	state atomic.Int32
	done  chan error // buffered: a writer never blocks on a caller that left
}

// enqueue hands an Apply's statements to the writers and waits for the outcome. A caller whose
// context ends while its request still waits in the queue gets ctx.Err() and the request is
// skipped; once a writer has taken it, the caller waits for its outcome, so that an error always
// means "not applied" (but see the package documentation on lost connections).
func (s *Store) enqueue(ctx context.Context, stmts []stmt) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("postgres: apply: %w", err)
	}
	r := &applyReq{stmts: stmts, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed.Load() {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("postgres: apply: %w", ctx.Err())
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		if r.state.CompareAndSwap(statePending, stateAbandoned) {
			return fmt.Errorf("postgres: apply: %w", ctx.Err())
		}
		return <-r.done
	}
}

// runWriter is one writer goroutine. It exits when Close has closed the queue and every request in
// it has been answered.
func (s *Store) runWriter() {
	defer s.writers.Done()
	batch := make([]*applyReq, 0, maxBatch)
	var stmts []stmt
	for {
		r, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		n := len(r.stmts)
		// Take whatever queued up meanwhile. No waiting for more: under low load a request is
		// committed at once.
	fill:
		for len(batch) < maxBatch && n < maxBatchStmts {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				n += len(r.stmts)
			default:
				break fill
			}
		}
		taken := batch[:0]
		for _, r := range batch {
			if r.state.CompareAndSwap(statePending, stateTaken) {
				taken = append(taken, r)
			}
		}
		stmts = s.commit(taken, stmts[:0])
		clear(batch[:cap(batch)])
		clear(stmts[:cap(stmts)])
	}
}

// commit applies a batch and answers every request in it. stmts is a buffer to reuse; commit
// returns it.
func (s *Store) commit(batch []*applyReq, stmts []stmt) []stmt {
	if len(batch) == 0 {
		return stmts
	}
	// Never a caller's context: a batch serves many callers, and interrupting it would leave
	// them unsure whether it committed. writeTimeout still bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	if len(batch) == 1 {
		batch[0].done <- s.applyOne(ctx, batch[0].stmts)
		return stmts
	}
	for _, r := range batch {
		stmts = append(stmts, r.stmts...)
	}
	c, err := s.acquire(ctx, "apply")
	if err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return stmts
	}
	_, err = runTx(ctx, c, stmts)
	c.Release()
	if err == nil {
		for _, r := range batch {
			r.done <- nil
		}
		return stmts
	}
	var pe *pgconn.PgError
	var pre pgx.ErrPreprocessingBatch
	if !errors.As(err, &pe) && !errors.As(err, &pre) && !pgconn.SafeToRetry(err) {
		// Not the server's answer but a failed connection (or an ended timeout) after the batch
		// was sent: whether it committed is unknown, and applying the requests again could apply
		// them twice.
		for _, r := range batch {
			r.done <- fmt.Errorf("postgres: apply: %w", err)
		}
		return stmts
	}
	// The server refused a statement (or the batch never left), so nothing of it was applied:
	// each request on its own, concurrently, as their callers sent them.
	s.log.DebugContext(ctx, "postgres: a batch failed, applying its requests one by one",
		"requests", len(batch), "err", err)
	var wg sync.WaitGroup
	for _, r := range batch {
		wg.Go(func() { r.done <- s.applyOne(ctx, r.stmts) })
	}
	wg.Wait()
	return stmts
}
