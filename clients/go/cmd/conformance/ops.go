package main

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

// opSpec is how a scenario writes one operation: the fields it may have and how they make the client's request.
type opSpec struct {
	fields []string
	build  func(f *fields) ledger.Request
}

var ops = map[string]opSpec{
	"DEDUCT": {[]string{"requestId", "userId", "serviceId", "amount", "virtualKeyId", "units"},
		func(f *fields) ledger.Request {
			return ledger.Deduct{RequestID: f.requestID(), UserID: f.user("userId"), ServiceID: f.int32("serviceId"),
				Amount: f.int64("amount"), VirtualKeyID: f.user("virtualKeyId"), Units: f.int64("units")}
		}},
	"RESERVE": {[]string{"requestId", "userId", "serviceId", "amount", "ttlMillis", "virtualKeyId", "units"},
		func(f *fields) ledger.Request {
			return ledger.Reserve{RequestID: f.requestID(), UserID: f.user("userId"), ServiceID: f.int32("serviceId"),
				Amount: f.int64("amount"), TTL: f.millis("ttlMillis"), VirtualKeyID: f.user("virtualKeyId"),
				Units: f.int64("units")}
		}},
	"SETTLE": {[]string{"requestId", "holdId", "amount"},
		func(f *fields) ledger.Request {
			return ledger.Settle{RequestID: f.requestID(), HoldID: f.holdID(), Actual: f.int64("amount")}
		}},
	"RELEASE": {[]string{"requestId", "holdId"},
		func(f *fields) ledger.Request {
			return ledger.Release{RequestID: f.requestID(), HoldID: f.holdID()}
		}},
	"CREDIT": {[]string{"requestId", "userId", "amount"},
		func(f *fields) ledger.Request {
			return ledger.Credit{RequestID: f.requestID(), UserID: f.user("userId"), Amount: f.int64("amount")}
		}},
	"GRANT": {[]string{"requestId", "userId", "serviceId", "allowance", "period"},
		func(f *fields) ledger.Request {
			return ledger.Grant{RequestID: f.requestID(), UserID: f.user("userId"), ServiceID: f.int32("serviceId"),
				Allowance: f.int64("allowance"), Period: f.period("period")}
		}},
	"SET_LIMIT": {[]string{"requestId", "userId", "creditLimit"},
		func(f *fields) ledger.Request {
			return ledger.SetLimit{RequestID: f.requestID(), UserID: f.user("userId"),
				CreditLimit: f.int64("creditLimit")}
		}},
	"FREEZE": {[]string{"requestId", "userId"},
		func(f *fields) ledger.Request {
			return ledger.Freeze{RequestID: f.requestID(), UserID: f.user("userId")}
		}},
	"UNFREEZE": {[]string{"requestId", "userId"},
		func(f *fields) ledger.Request {
			return ledger.Unfreeze{RequestID: f.requestID(), UserID: f.user("userId")}
		}},
	"QUERY": {[]string{"userId", "serviceId", "virtualKeyId"},
		func(f *fields) ledger.Request {
			return ledger.Query{UserID: f.user("userId"), ServiceID: f.int32("serviceId"),
				VirtualKeyID: f.user("virtualKeyId")}
		}},
	"SET_VIRTUAL_KEY": {[]string{"requestId", "userId", "virtualKeyId", "budget", "unlimited", "resetPeriod",
		"resetMillis", "expiresAt", "services"},
		func(f *fields) ledger.Request {
			var expiresAt time.Time
			if ms := f.int64("expiresAt"); ms != 0 {
				expiresAt = time.UnixMilli(ms)
			}
			return ledger.SetVirtualKey{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId"), Budget: f.int64("budget"), Unlimited: f.bool("unlimited"),
				ResetPeriod: f.period("resetPeriod"), ResetEvery: f.millis("resetMillis"), ExpiresAt: expiresAt,
				Services: f.services()}
		}},
	"SET_VIRTUAL_KEY_SERVICE_BUDGET": {[]string{"requestId", "userId", "virtualKeyId", "serviceId", "budget"},
		func(f *fields) ledger.Request {
			return ledger.SetVirtualKeyServiceBudget{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId"), ServiceID: f.int32("serviceId"), Budget: f.int64("budget")}
		}},
	"REVOKE_VIRTUAL_KEY": {[]string{"requestId", "userId", "virtualKeyId"},
		func(f *fields) ledger.Request {
			return ledger.RevokeVirtualKey{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId")}
		}},
	"SET_PRICE": {[]string{"requestId", "groupId", "serviceId", "multiplier"},
		func(f *fields) ledger.Request {
			return ledger.SetPrice{RequestID: f.requestID(), GroupID: f.group("groupId"),
				ServiceID: f.int32("serviceId"), Multiplier: f.int64("multiplier")}
		}},
	"SET_GROUP": {[]string{"requestId", "userId", "groupId"},
		func(f *fields) ledger.Request {
			return ledger.SetGroup{RequestID: f.requestID(), UserID: f.user("userId"), GroupID: f.group("groupId")}
		}},
	"SET_RATE_LIMIT": {[]string{"requestId", "userId", "virtualKeyId", "requests", "units", "perMillis"},
		func(f *fields) ledger.Request {
			return ledger.SetRateLimit{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId"), Requests: f.int64("requests"), Units: f.int64("units"),
				Per: f.millis("perMillis")}
		}},
	"SET_SPEND_WINDOW": {[]string{"requestId", "userId", "virtualKeyId", "max", "perMillis"},
		func(f *fields) ledger.Request {
			return ledger.SetSpendWindow{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId"), Max: f.int64("max"), Per: f.millis("perMillis")}
		}},
	"SET_CONCURRENCY": {[]string{"requestId", "userId", "virtualKeyId", "max"},
		func(f *fields) ledger.Request {
			return ledger.SetConcurrency{RequestID: f.requestID(), UserID: f.user("userId"),
				VirtualKeyID: f.user("virtualKeyId"), Max: f.int64("max")}
		}},
}

// fields reads an operation step's fields; the first error is kept in err (a field left out is 0).
type fields struct {
	m      map[string]json.RawMessage
	r      *runner
	suffix string // "#i" for the i-th request of a pipelined step
	err    error
}

func (f *fields) fail(name string, raw json.RawMessage, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: %s is not %s", name, raw, want)
	}
}

func (f *fields) int64(name string) int64 {
	raw, ok := f.m[name]
	if !ok {
		return 0
	}
	var v int64
	if err := decodeNumber(raw, &v); err != nil {
		f.fail(name, raw, "an int64")
	}
	return v
}

func (f *fields) int32(name string) int32 {
	v := f.int64(name)
	if v < math.MinInt32 || v > math.MaxInt32 {
		f.fail(name, f.m[name], "an int32")
	}
	return int32(v)
}

// user reads a user or virtual key id: the run's base is added to a positive one.
func (f *fields) user(name string) int64 {
	return f.r.offset(f.int64(name))
}

// group reads a group id (int32): the run's base is added to a positive one.
func (f *fields) group(name string) int32 {
	v := f.r.offset(int64(f.int32(name)))
	if v > math.MaxInt32 {
		f.fail(name, f.m[name], "an int32 with LEDGER_RUN_BASE added")
	}
	return int32(v)
}

func (f *fields) millis(name string) time.Duration {
	ms := f.int64(name)
	if ms > math.MaxInt64/int64(time.Millisecond) || ms < math.MinInt64/int64(time.Millisecond) {
		f.fail(name, f.m[name], "a duration in ms this runner can send")
	}
	return time.Duration(ms) * time.Millisecond
}

func (f *fields) bool(name string) bool {
	raw, ok := f.m[name]
	if !ok {
		return false
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		f.fail(name, raw, "true or false")
	}
	return v
}

func (f *fields) period(name string) ledger.Period {
	raw, ok := f.m[name]
	if !ok {
		return ledger.PeriodNone
	}
	var v string
	_ = json.Unmarshal(raw, &v)
	for _, p := range []ledger.Period{ledger.PeriodNone, ledger.PeriodDay, ledger.PeriodWeek, ledger.PeriodMonth} {
		if p.String() == v {
			return p
		}
	}
	f.fail(name, raw, "a Period name (NONE, DAY, WEEK, MONTH)")
	return 0
}

func (f *fields) services() []int32 {
	raw, ok := f.m["services"]
	if !ok {
		return nil
	}
	var list []json.Number
	if err := decodeStrict(raw, &list); err != nil {
		f.fail("services", raw, "a list of service ids")
		return nil
	}
	services := make([]int32, len(list))
	for i, n := range list {
		v, err := n.Int64()
		if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
			f.fail("services", raw, "a list of int32 service ids")
		}
		services[i] = int32(v)
	}
	return services
}

// requestID maps the step's requestId name (with "#i" in a pipeline) to its id; none: the client makes one.
func (f *fields) requestID() ledger.ID {
	return f.name("requestId", f.suffix)
}

// holdID maps a holdId name to the id of the request it names (an unknown hold when none had it).
func (f *fields) holdID() ledger.ID {
	return f.name("holdId", "")
}

func (f *fields) name(field, suffix string) ledger.ID {
	raw, ok := f.m[field]
	if !ok {
		return ledger.ID{}
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil || name == "" {
		f.fail(field, raw, "a name")
		return ledger.ID{}
	}
	return f.r.id(name + suffix)
}
