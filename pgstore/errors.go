package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rtr-go/rtr"
)

// errInvalidRecord is the answer of Create to a record no store may keep.
var errInvalidRecord = rtr.ErrInvalidSessionRecord

// errTooLate is the answer to a rotation that reached the server after its
// caller's deadline: nothing was changed.
var errTooLate = fmt.Errorf("%w: rotation arrived after the caller's deadline; nothing changed", rtr.ErrStoreUnavailable)

// maxAttempts bounds how often [Store.do] sends one operation.
const maxAttempts = 3

// do runs op, repeating it on a fresh connection while the failure says
// the server did not get it, or, when idempotent, while the connection
// broke (a killed backend, a restarting server) and ctx has time left.
// Every failure except the policy's own answers is returned wrapped in
// [rtr.ErrStoreUnavailable].
func (s *Store) do(ctx context.Context, idempotent bool, op func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return unavailable(err)
	}
	var err error
	for range maxAttempts {
		err = op(ctx)
		if err == nil || errors.Is(err, rtr.ErrSessionNotFound) || errors.Is(err, rtr.ErrStoreUnavailable) {
			return err
		}
		if ctx.Err() != nil || !(pgconn.SafeToRetry(err) || idempotent && transient(err)) {
			break
		}
	}
	return unavailable(err)
}

// transient reports whether err is a broken connection or a server that is
// shutting down or starting, as opposed to an error the server gave for the
// statement itself.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin or crash shutdown, cannot connect now
			"40001", "40P01": // serialization failure, deadlock (not expected; harmless to repeat)
			return true
		}
		return pgErr.Code[:2] == "08" // connection exceptions
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// unavailable wraps a failure as [rtr.ErrStoreUnavailable]: "cannot tell
// now", never "not found".
func unavailable(err error) error {
	if err == nil || errors.Is(err, rtr.ErrStoreUnavailable) || errors.Is(err, rtr.ErrSessionNotFound) {
		return err
	}
	return fmt.Errorf("%w: %w", rtr.ErrStoreUnavailable, err)
}
