package ledger

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/quotaledger/ledger/clients/go/codec"
)

// Request is one of the protocol's requests: Deduct, Reserve, Settle, Release, Credit, Grant, SetLimit, Freeze,
// Unfreeze, Query and the gateway policy settings SetVirtualKey, SetVirtualKeyServiceBudget, RevokeVirtualKey,
// SetPrice, SetGroup, SetRateLimit, SetSpendWindow and SetConcurrency. Send one with Client.Do or Client.Go.
//
// A request whose RequestID is the zero ID gets one from the client (Result.RequestID says which). Give your own
// when you may have to send the request again from elsewhere (e.g. after a restart of the gateway): the ledger
// answers a request id it has seen with the original result, so a retry never charges twice. The client itself
// resends the very same request, id included, after a timeout or a reconnect.
type Request interface {
	// Op is the operation the request asks for.
	Op() Op
	// id is the request's own id, zero when the client is to make one.
	id() ID
	// encode writes the whole frame (length prefix included) into b, which holds maxFrame bytes.
	encode(b []byte, correlationID int64, id ID) (int, error)
}

// MaxServices is the most services a virtual key's list of allowed services may name (the ledger's limit).
const MaxServices = 12

// The largest request frame: SetVirtualKey with MaxServices services; every other request is smaller.
const maxFrame = lengthPrefix + headerLength + 66 + 4 + 4*MaxServices

const (
	lengthPrefix = 4
	headerLength = 8
)

// Deduct charges amount (or units priced by the user's price group) to a user's service: free quota of the current
// period first, then the balance; all or nothing. Exactly one of Amount and Units is positive.
type Deduct struct {
	RequestID    ID
	UserID       int64
	ServiceID    int32
	Amount       int64
	VirtualKeyID int64 // 0: none; else the charge counts against the key's budget and limits
	Units        int64 // 0: none; else raw units (e.g. tokens) the ledger prices
}

// Reserve takes the funds now and holds them under its request id (the hold id) until a Settle, a Release or the
// TTL (whole milliseconds, at most the ledger's maximum hold ttl: 1 h by default).
type Reserve struct {
	RequestID    ID // the hold id
	UserID       int64
	ServiceID    int32
	Amount       int64
	TTL          time.Duration
	VirtualKeyID int64
	Units        int64
}

// Settle charges Actual against a hold and returns the rest of it.
type Settle struct {
	RequestID ID
	HoldID    ID
	Actual    int64
}

// Release returns the whole hold.
type Release struct {
	RequestID ID
	HoldID    ID
}

// Credit tops a user up (admin); it opens the account.
type Credit struct {
	RequestID ID
	UserID    int64
	Amount    int64
}

// Grant gives a user a free allowance per UTC period for a service (admin); it opens the account.
type Grant struct {
	RequestID ID
	UserID    int64
	ServiceID int32
	Allowance int64
	Period    Period // PeriodDay, PeriodWeek or PeriodMonth
}

// SetLimit sets how far below zero charges may take a user's balance (admin).
type SetLimit struct {
	RequestID   ID
	UserID      int64
	CreditLimit int64
}

// Freeze stops every charge to a user (admin).
type Freeze struct {
	RequestID ID
	UserID    int64
}

// Unfreeze lifts a Freeze (admin).
type Unfreeze struct {
	RequestID ID
	UserID    int64
}

// Query reads a user's account (and the free quota of ServiceID, 0 for none; and a virtual key's budget and spend
// when VirtualKeyID is not 0). It changes nothing and has no request id.
type Query struct {
	UserID       int64
	ServiceID    int32
	VirtualKeyID int64
}

// SetVirtualKey creates or updates a virtual key (an end user's API key, a sub-account of the user with a budget of
// its own) (admin). The budget resets every ResetPeriod (UTC calendar periods), or with PeriodNone every ResetEvery
// (whole milliseconds from the time of the request; 0 never).
type SetVirtualKey struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
	Budget       int64 // per period; ignored when Unlimited
	Unlimited    bool
	ResetPeriod  Period
	ResetEvery   time.Duration
	ExpiresAt    time.Time // the zero Time: never
	Services     []int32   // the services the key may charge, at most MaxServices; none: every service
}

// SetVirtualKeyServiceBudget sets a key's budget for one service, per period of the key; -1 removes it (admin).
type SetVirtualKeyServiceBudget struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
	ServiceID    int32
	Budget       int64
}

// RevokeVirtualKey revokes a key for good: it charges nothing more (admin).
type RevokeVirtualKey struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
}

// SetPrice sets a price group's multiplier for a service (ServiceID 0: the group's default) (admin). Multiplier is
// fixed point with 6 decimals: 1,000,000 is 1.0; units are priced ceil(units × multiplier / 1,000,000).
type SetPrice struct {
	RequestID  ID
	GroupID    int32
	ServiceID  int32
	Multiplier int64
}

// SetGroup puts a user in a price group (0: the default group) (admin).
type SetGroup struct {
	RequestID ID
	UserID    int64
	GroupID   int32
}

// SetRateLimit limits a user (VirtualKeyID 0) or one of its keys to Requests requests and Units units per Per
// (whole milliseconds; GCRA); 0 is no limit of that kind, both 0 remove the limit (admin).
type SetRateLimit struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
	Requests     int64
	Units        int64
	Per          time.Duration
}

// SetSpendWindow allows a user (VirtualKeyID 0) or one of its keys at most Max charged in any window of length Per
// (whole milliseconds; the length names the window, up to 4 per user or key); Max 0 removes it (admin).
type SetSpendWindow struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
	Max          int64
	Per          time.Duration
}

// SetConcurrency caps the open holds of a user (VirtualKeyID 0) or of one of its keys at Max; 0 removes the cap
// (admin).
type SetConcurrency struct {
	RequestID    ID
	UserID       int64
	VirtualKeyID int64
	Max          int64
}

// takeSnapshot asks a running ledger to snapshot itself (Client.Snapshot).
type takeSnapshot struct{}

// Op implements Request.
func (Deduct) Op() Op { return OpDeduct }

// Op implements Request.
func (Reserve) Op() Op { return OpReserve }

// Op implements Request.
func (Settle) Op() Op { return OpSettle }

// Op implements Request.
func (Release) Op() Op { return OpRelease }

// Op implements Request.
func (Credit) Op() Op { return OpCredit }

// Op implements Request.
func (Grant) Op() Op { return OpGrant }

// Op implements Request.
func (SetLimit) Op() Op { return OpSetLimit }

// Op implements Request.
func (Freeze) Op() Op { return OpFreeze }

// Op implements Request.
func (Unfreeze) Op() Op { return OpUnfreeze }

// Op implements Request.
func (Query) Op() Op { return OpQuery }

// Op implements Request.
func (SetVirtualKey) Op() Op { return OpSetVirtualKey }

// Op implements Request.
func (SetVirtualKeyServiceBudget) Op() Op { return OpSetVirtualKeyServiceBudget }

// Op implements Request.
func (RevokeVirtualKey) Op() Op { return OpRevokeVirtualKey }

// Op implements Request.
func (SetPrice) Op() Op { return OpSetPrice }

// Op implements Request.
func (SetGroup) Op() Op { return OpSetGroup }

// Op implements Request.
func (SetRateLimit) Op() Op { return OpSetRateLimit }

// Op implements Request.
func (SetSpendWindow) Op() Op { return OpSetSpendWindow }

// Op implements Request.
func (SetConcurrency) Op() Op { return OpSetConcurrency }

func (takeSnapshot) Op() Op { return OpSnapshot }

func (r Deduct) id() ID                     { return r.RequestID }
func (r Reserve) id() ID                    { return r.RequestID }
func (r Settle) id() ID                     { return r.RequestID }
func (r Release) id() ID                    { return r.RequestID }
func (r Credit) id() ID                     { return r.RequestID }
func (r Grant) id() ID                      { return r.RequestID }
func (r SetLimit) id() ID                   { return r.RequestID }
func (r Freeze) id() ID                     { return r.RequestID }
func (r Unfreeze) id() ID                   { return r.RequestID }
func (Query) id() ID                        { return ID{} }
func (r SetVirtualKey) id() ID              { return r.RequestID }
func (r SetVirtualKeyServiceBudget) id() ID { return r.RequestID }
func (r RevokeVirtualKey) id() ID           { return r.RequestID }
func (r SetPrice) id() ID                   { return r.RequestID }
func (r SetGroup) id() ID                   { return r.RequestID }
func (r SetRateLimit) id() ID               { return r.RequestID }
func (r SetSpendWindow) id() ID             { return r.RequestID }
func (r SetConcurrency) id() ID             { return r.RequestID }
func (takeSnapshot) id() ID                 { return ID{} }

// frameLength writes the length prefix of a frame whose message (header and body) ends at encoded bytes after the
// header, and returns the whole frame's length.
func frameLength(b []byte, encoded uint64) (int, error) {
	n := headerLength + int(encoded)
	binary.LittleEndian.PutUint32(b, uint32(n))
	return lengthPrefix + n, nil
}

func size(b []byte) uint64 {
	return uint64(len(b))
}

func (r Deduct) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Deduct
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetServiceId(r.ServiceID).SetAmount(r.Amount).SetVirtualKeyId(r.VirtualKeyID).
		SetUnits(r.Units)
	return frameLength(b, m.EncodedLength())
}

func (r Reserve) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Reserve
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetServiceId(r.ServiceID).SetAmount(r.Amount).SetTtlMillis(r.TTL.Milliseconds()).
		SetVirtualKeyId(r.VirtualKeyID).SetUnits(r.Units)
	return frameLength(b, m.EncodedLength())
}

func (r Settle) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Settle
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.HoldId().SetHi(r.HoldID.Hi).SetLo(r.HoldID.Lo)
	m.SetActual(r.Actual)
	return frameLength(b, m.EncodedLength())
}

func (r Release) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Release
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.HoldId().SetHi(r.HoldID.Hi).SetLo(r.HoldID.Lo)
	return frameLength(b, m.EncodedLength())
}

func (r Credit) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Credit
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetAmount(r.Amount)
	return frameLength(b, m.EncodedLength())
}

func (r Grant) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Grant
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetServiceId(r.ServiceID).SetAllowance(r.Allowance).SetPeriod(codec.Period(r.Period))
	return frameLength(b, m.EncodedLength())
}

func (r SetLimit) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetLimit
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetCreditLimit(r.CreditLimit)
	return frameLength(b, m.EncodedLength())
}

func (r Freeze) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Freeze
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID)
	return frameLength(b, m.EncodedLength())
}

func (r Unfreeze) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.Unfreeze
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID)
	return frameLength(b, m.EncodedLength())
}

func (r Query) encode(b []byte, corr int64, _ ID) (int, error) {
	var m codec.Query
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).SetUserId(r.UserID).
		SetServiceId(r.ServiceID).SetVirtualKeyId(r.VirtualKeyID)
	return frameLength(b, m.EncodedLength())
}

func (r SetVirtualKey) encode(b []byte, corr int64, id ID) (int, error) {
	if len(r.Services) > MaxServices {
		return 0, fmt.Errorf("ledger: %d services: a virtual key names at most %d", len(r.Services), MaxServices)
	}
	unlimited := codec.BooleanType_FALSE
	if r.Unlimited {
		unlimited = codec.BooleanType_TRUE
	}
	var expiresAt int64
	if !r.ExpiresAt.IsZero() {
		expiresAt = r.ExpiresAt.UnixMilli()
	}
	var m codec.SetVirtualKey
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID).SetBudget(r.Budget).SetUnlimited(unlimited).
		SetResetPeriod(codec.Period(r.ResetPeriod)).SetResetMillis(r.ResetEvery.Milliseconds()).
		SetExpiresAt(expiresAt)
	services := m.ServicesCount(uint16(len(r.Services)))
	for _, s := range r.Services {
		services.Next().SetServiceId(s)
	}
	return frameLength(b, m.EncodedLength())
}

func (r SetVirtualKeyServiceBudget) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetVirtualKeyServiceBudget
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID).SetServiceId(r.ServiceID).SetBudget(r.Budget)
	return frameLength(b, m.EncodedLength())
}

func (r RevokeVirtualKey) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.RevokeVirtualKey
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID)
	return frameLength(b, m.EncodedLength())
}

func (r SetPrice) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetPrice
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetGroupId(r.GroupID).SetServiceId(r.ServiceID).SetMultiplier(r.Multiplier)
	return frameLength(b, m.EncodedLength())
}

func (r SetGroup) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetGroup
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetGroupId(r.GroupID)
	return frameLength(b, m.EncodedLength())
}

func (r SetRateLimit) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetRateLimit
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID).SetRequests(r.Requests).SetUnits(r.Units).
		SetPerMillis(r.Per.Milliseconds())
	return frameLength(b, m.EncodedLength())
}

func (r SetSpendWindow) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetSpendWindow
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID).SetMax(r.Max).SetPerMillis(r.Per.Milliseconds())
	return frameLength(b, m.EncodedLength())
}

func (r SetConcurrency) encode(b []byte, corr int64, id ID) (int, error) {
	var m codec.SetConcurrency
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr).RequestId().SetHi(id.Hi).SetLo(id.Lo)
	m.SetUserId(r.UserID).SetVirtualKeyId(r.VirtualKeyID).SetMax(r.Max)
	return frameLength(b, m.EncodedLength())
}

func (takeSnapshot) encode(b []byte, corr int64, _ ID) (int, error) {
	var m codec.TakeSnapshot
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(corr)
	return frameLength(b, m.EncodedLength())
}

// encodeHello writes a version-2 Hello with the API key; the key is at most 1024 ASCII bytes.
func encodeHello(key string) ([]byte, error) {
	if len(key) == 0 || len(key) > 1024 {
		return nil, fmt.Errorf("ledger: an API key of %d bytes (1 to 1024)", len(key))
	}
	for i := 0; i < len(key); i++ {
		if key[i] > 0x7e || key[i] < 0x20 {
			return nil, fmt.Errorf("ledger: the API key is not printable ASCII")
		}
	}
	b := make([]byte, lengthPrefix+headerLength+10+2+len(key))
	var m codec.Hello
	m.WrapAndApplyHeader(b, lengthPrefix, size(b)).SetCorrelationId(0).SetClientVersion(m.SbeSchemaVersion()).
		PutApiKey(key)
	n, _ := frameLength(b, m.EncodedLength())
	return b[:n], nil
}
