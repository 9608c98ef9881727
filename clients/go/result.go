package ledger

import (
	"fmt"
	"time"
)

// Result is the ledger's answer to a request (docs/protocol.md, "Messages"; what each field holds for each
// operation: docs/semantics.md, "Results").
type Result struct {
	// RequestID is the request's id (a Reserve's is its hold id); zero for a Query.
	RequestID ID
	Op        Op
	Code      Code

	Duplicate    bool // a retry of an accepted request: this is the original result
	ExceededHold bool // a Settle charged more than its hold
	Frozen       bool // the account is frozen
	KeyRevoked   bool // the result describes a revoked virtual key
	KeyExpired   bool // the result describes a virtual key expired at the request's time

	FromFree      int64 // charged from the free quota
	FromBalance   int64 // charged from the balance
	Returned      int64 // what a Settle or Release gave back
	Balance       int64 // the account after the operation
	Held          int64
	CreditLimit   int64
	FreeRemaining int64 // free units left this period for the request's service

	VirtualKeyID       int64 // the key the request went through or named; 0 for none
	Units              int64 // the units the request asked to be priced; 0 when it carried an amount
	Amount             int64 // the amount charged or held (priced from units); a key's budget for Query and key settings
	RetryAfterMillis   int64 // RATE_LIMITED, SPEND_WINDOW_EXCEEDED: when the same request could pass; -1 never
	KeySpent           int64 // the key's spend in its current period
	KeyBudgetRemaining int64 // what the key may still spend in its current period; -1 unlimited
}

// OK reports whether the request was applied (now, or before when Duplicate).
func (r Result) OK() bool {
	return r.Code == CodeOK
}

// RetryAfter is RetryAfterMillis as a duration; negative when the request can never pass that check.
func (r Result) RetryAfter() time.Duration {
	return time.Duration(r.RetryAfterMillis) * time.Millisecond
}

// Err returns nil for an accepted result, else a *RejectionError carrying it.
func (r Result) Err() error {
	if r.Code == CodeOK {
		return nil
	}
	return &RejectionError{Result: r}
}

// RejectionError is the error of a request the ledger (or the protocol) refused: the result code and the state the
// result reports (e.g. the account's balance, or when a rate-limited request could pass). It unwraps to the
// sentinel of its code: errors.Is(err, ledger.ErrRateLimited).
type RejectionError struct {
	Result Result
}

// Error says which operation was refused, with what code, and the account as the result reports it.
func (e *RejectionError) Error() string {
	r := e.Result
	msg := fmt.Sprintf("ledger: %s rejected: %s", r.Op, r.Code)
	if !r.RequestID.IsZero() {
		msg += " (request " + r.RequestID.String() + ")"
	}
	switch r.Code {
	case CodeRateLimited, CodeSpendWindowExceeded:
		if r.RetryAfterMillis < 0 {
			msg += ", can never pass"
		} else {
			msg += ", retry after " + r.RetryAfter().String()
		}
	case CodeInsufficientFunds:
		msg += fmt.Sprintf(", balance %d, held %d, credit limit %d", r.Balance, r.Held, r.CreditLimit)
	}
	return msg
}

// Unwrap returns the sentinel error of the result's code.
func (e *RejectionError) Unwrap() error {
	return codeError(e.Result.Code)
}

// SnapshotReport answers Client.Snapshot: OK once the snapshot file is durable, UNAVAILABLE while another snapshot
// runs or when it failed, FORBIDDEN for a gateway key.
type SnapshotReport struct {
	Code        Code
	Sequence    int64 // the last journal sequence the snapshot includes
	Bytes       int64
	PauseMicros int64 // how long the ledger's thread was held
}
