package ledger

import (
	"strconv"

	"github.com/quotaledger/ledger/clients/go/codec"
)

// Code is a result code (docs/protocol.md, "Result codes"): 0 OK, 1-19 and 30-49 the ledger's rejections and
// errors, 20-29 the protocol's own. A code this client does not know is a rejection too.
type Code uint8

// The result codes of protocol version 2, from the schema.
const (
	CodeOK                       = Code(codec.ResultCode_OK)
	CodeInsufficientFunds        = Code(codec.ResultCode_INSUFFICIENT_FUNDS)
	CodeUnknownAccount           = Code(codec.ResultCode_UNKNOWN_ACCOUNT)
	CodeFrozen                   = Code(codec.ResultCode_FROZEN)
	CodeUnknownHold              = Code(codec.ResultCode_UNKNOWN_HOLD)
	CodeHoldAlreadyClosed        = Code(codec.ResultCode_HOLD_ALREADY_CLOSED)
	CodeInvalidAmount            = Code(codec.ResultCode_INVALID_AMOUNT)
	CodeInvalidArgument          = Code(codec.ResultCode_INVALID_ARGUMENT)
	CodeAmountOverflow           = Code(codec.ResultCode_AMOUNT_OVERFLOW)
	CodeRequestIDConflict        = Code(codec.ResultCode_REQUEST_ID_CONFLICT)
	CodeCapacityExceeded         = Code(codec.ResultCode_CAPACITY_EXCEEDED)
	CodeInternalError            = Code(codec.ResultCode_INTERNAL_ERROR)
	CodeUnavailable              = Code(codec.ResultCode_UNAVAILABLE)
	CodeUnknownVirtualKey        = Code(codec.ResultCode_UNKNOWN_VIRTUAL_KEY)
	CodeVirtualKeyRevoked        = Code(codec.ResultCode_VIRTUAL_KEY_REVOKED)
	CodeVirtualKeyExpired        = Code(codec.ResultCode_VIRTUAL_KEY_EXPIRED)
	CodeServiceNotAllowed        = Code(codec.ResultCode_SERVICE_NOT_ALLOWED)
	CodeVirtualKeyBudgetExceeded = Code(codec.ResultCode_VIRTUAL_KEY_BUDGET_EXCEEDED)
	CodeRateLimited              = Code(codec.ResultCode_RATE_LIMITED)
	CodeConcurrencyLimited       = Code(codec.ResultCode_CONCURRENCY_LIMITED)
	CodeSpendWindowExceeded      = Code(codec.ResultCode_SPEND_WINDOW_EXCEEDED)
	CodeUnauthenticated          = Code(codec.ResultCode_UNAUTHENTICATED)
	CodeForbidden                = Code(codec.ResultCode_FORBIDDEN)
	CodeMalformed                = Code(codec.ResultCode_MALFORMED)
	CodeUnknownMessage           = Code(codec.ResultCode_UNKNOWN_MESSAGE)
	CodeUnsupportedVersion       = Code(codec.ResultCode_UNSUPPORTED_VERSION)
	CodeTooManyInFlight          = Code(codec.ResultCode_TOO_MANY_IN_FLIGHT)
)

// String returns the code's name in the schema (e.g. "INSUFFICIENT_FUNDS"), or "CODE_<n>" for a code this client
// does not know.
func (c Code) String() string {
	if known, err := codec.LookupResultCode(uint8(c)); err == nil && known != codec.ResultCode_NULL_VALUE {
		return known.String()
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// ParseCode returns the code with the given schema name, e.g. "RATE_LIMITED".
func ParseCode(name string) (Code, bool) {
	for c := 0; c < 256; c++ {
		if known, err := codec.LookupResultCode(uint8(c)); err == nil && known != codec.ResultCode_NULL_VALUE &&
			known.String() == name {
			return Code(c), true
		}
	}
	return 0, false
}

// Sentinel errors, one per result code other than OK: a rejected request's error is a *RejectionError that
// errors.Is matches against the sentinel of its code, e.g. errors.Is(err, ledger.ErrInsufficientFunds).
var (
	ErrInsufficientFunds        error = codeError(CodeInsufficientFunds)
	ErrUnknownAccount           error = codeError(CodeUnknownAccount)
	ErrFrozen                   error = codeError(CodeFrozen)
	ErrUnknownHold              error = codeError(CodeUnknownHold)
	ErrHoldAlreadyClosed        error = codeError(CodeHoldAlreadyClosed)
	ErrInvalidAmount            error = codeError(CodeInvalidAmount)
	ErrInvalidArgument          error = codeError(CodeInvalidArgument)
	ErrAmountOverflow           error = codeError(CodeAmountOverflow)
	ErrRequestIDConflict        error = codeError(CodeRequestIDConflict)
	ErrCapacityExceeded         error = codeError(CodeCapacityExceeded)
	ErrInternalError            error = codeError(CodeInternalError)
	ErrUnavailable              error = codeError(CodeUnavailable)
	ErrUnknownVirtualKey        error = codeError(CodeUnknownVirtualKey)
	ErrVirtualKeyRevoked        error = codeError(CodeVirtualKeyRevoked)
	ErrVirtualKeyExpired        error = codeError(CodeVirtualKeyExpired)
	ErrServiceNotAllowed        error = codeError(CodeServiceNotAllowed)
	ErrVirtualKeyBudgetExceeded error = codeError(CodeVirtualKeyBudgetExceeded)
	ErrRateLimited              error = codeError(CodeRateLimited)
	ErrConcurrencyLimited       error = codeError(CodeConcurrencyLimited)
	ErrSpendWindowExceeded      error = codeError(CodeSpendWindowExceeded)
	ErrUnauthenticated          error = codeError(CodeUnauthenticated)
	ErrForbidden                error = codeError(CodeForbidden)
	ErrMalformed                error = codeError(CodeMalformed)
	ErrUnknownMessage           error = codeError(CodeUnknownMessage)
	ErrUnsupportedVersion       error = codeError(CodeUnsupportedVersion)
	ErrTooManyInFlight          error = codeError(CodeTooManyInFlight)
)

// CodeError returns the sentinel error of a code (a code this client does not know has one too), nil for OK.
func CodeError(c Code) error {
	if c == CodeOK {
		return nil
	}
	return codeError(c)
}

// codeError is the type of the sentinels: comparable, so errors.Is matches a RejectionError's unwrapped code.
type codeError Code

func (e codeError) Error() string {
	return "ledger: " + Code(e).String()
}

// Op is the operation a result answers, as the schema numbers it.
type Op uint8

// The operations of protocol version 2, from the schema.
const (
	OpNone                       = Op(codec.Op_NONE)
	OpDeduct                     = Op(codec.Op_DEDUCT)
	OpReserve                    = Op(codec.Op_RESERVE)
	OpSettle                     = Op(codec.Op_SETTLE)
	OpRelease                    = Op(codec.Op_RELEASE)
	OpCredit                     = Op(codec.Op_CREDIT)
	OpGrant                      = Op(codec.Op_GRANT)
	OpSetLimit                   = Op(codec.Op_SET_LIMIT)
	OpFreeze                     = Op(codec.Op_FREEZE)
	OpUnfreeze                   = Op(codec.Op_UNFREEZE)
	OpQuery                      = Op(codec.Op_QUERY)
	OpSetVirtualKey              = Op(codec.Op_SET_VIRTUAL_KEY)
	OpSetVirtualKeyServiceBudget = Op(codec.Op_SET_VIRTUAL_KEY_SERVICE_BUDGET)
	OpRevokeVirtualKey           = Op(codec.Op_REVOKE_VIRTUAL_KEY)
	OpSetPrice                   = Op(codec.Op_SET_PRICE)
	OpSetGroup                   = Op(codec.Op_SET_GROUP)
	OpSetRateLimit               = Op(codec.Op_SET_RATE_LIMIT)
	OpSetSpendWindow             = Op(codec.Op_SET_SPEND_WINDOW)
	OpSetConcurrency             = Op(codec.Op_SET_CONCURRENCY)
	OpHello                      = Op(codec.Op_HELLO)
	OpSnapshot                   = Op(codec.Op_SNAPSHOT)
)

// String returns the operation's name in the schema (e.g. "DEDUCT"), or "OP_<n>" for one this client does not know.
func (o Op) String() string {
	if known, err := codec.LookupOp(uint8(o)); err == nil && known != codec.Op_NULL_VALUE {
		return known.String()
	}
	return "OP_" + strconv.Itoa(int(o))
}

// Period is a free quota's period (Grant) or a virtual key's budget period (SetVirtualKey), in UTC.
type Period uint8

// The periods of the schema. PeriodNone is for virtual keys only: their budget resets every ResetEvery, or never.
const (
	PeriodNone  = Period(codec.Period_NONE)
	PeriodDay   = Period(codec.Period_DAY)
	PeriodWeek  = Period(codec.Period_WEEK)
	PeriodMonth = Period(codec.Period_MONTH)
)

// String returns the period's name in the schema, e.g. "DAY".
func (p Period) String() string {
	if known, err := codec.LookupPeriod(uint8(p)); err == nil && known != codec.Period_NULL_VALUE {
		return known.String()
	}
	return "PERIOD_" + strconv.Itoa(int(p))
}

// Role is what an API key may do: a gateway key deducts, reserves, settles, releases and queries; an admin key
// does everything.
type Role uint8

// The roles of the schema.
const (
	RoleNone    = Role(codec.Role_NONE)
	RoleGateway = Role(codec.Role_GATEWAY)
	RoleAdmin   = Role(codec.Role_ADMIN)
)

// String returns the role's name in the schema, e.g. "GATEWAY".
func (r Role) String() string {
	if known, err := codec.LookupRole(uint8(r)); err == nil && known != codec.Role_NULL_VALUE {
		return known.String()
	}
	return "ROLE_" + strconv.Itoa(int(r))
}
