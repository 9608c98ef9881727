package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

// scenario is one scenario file (conformance/README.md, "Scenario files").
type scenario struct {
	Name        string                       `json:"name"`
	Description string                       `json:"description"`
	ConnectAs   string                       `json:"connectAs"`
	Steps       []map[string]json.RawMessage `json:"steps"`
}

func parseScenario(file string) (*scenario, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var s scenario
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s is not a scenario: %v", file, err)
	}
	if s.Name == "" {
		return &s, fmt.Errorf("%s has no name", file)
	}
	if s.ConnectAs == "" {
		s.ConnectAs = "admin"
	}
	if s.ConnectAs != "admin" && s.ConnectAs != "gateway" {
		return &s, fmt.Errorf("connectAs %q: admin or gateway", s.ConnectAs)
	}
	return &s, nil
}

// runner plays one scenario on a connection of its own.
type runner struct {
	env  env
	s    *scenario
	conn *ledger.Client // nil after a refused connect
	ids  map[string]ledger.ID
}

// How long one request may take, resends included, before its step fails.
const stepTimeout = 30 * time.Second

func newRunner(e env, s *scenario) *runner {
	return &runner{env: e, s: s, ids: map[string]ledger.ID{}}
}

func (r *runner) close() {
	if r.conn != nil {
		r.conn.Close()
	}
}

// run plays the steps in order and returns the first that failed with what differed ("" when all passed).
func (r *runner) run() (int, string) {
	if code, err := r.connect(r.s.ConnectAs); err != nil || code != ledger.CodeOK {
		return 0, fmt.Sprintf("connecting as %s before the first step: %v", r.s.ConnectAs, orCode(err, code))
	}
	for i, st := range r.s.Steps {
		if what := r.step(st); what != "" {
			return i, what
		}
	}
	return 0, ""
}

func orCode(err error, code ledger.Code) string {
	if err != nil {
		return err.Error()
	}
	return code.String()
}

func (r *runner) step(st map[string]json.RawMessage) string {
	var kinds []string
	for _, kind := range []string{"op", "sleepMillis", "connect", "raw"} {
		if _, ok := st[kind]; ok {
			kinds = append(kinds, kind)
		}
	}
	if len(kinds) != 1 {
		return fmt.Sprintf("a step has exactly one of op, sleepMillis, connect, raw; this one has %v", kinds)
	}
	switch kinds[0] {
	case "sleepMillis":
		if err := only(st, "sleepMillis"); err != nil {
			return err.Error()
		}
		var ms int64
		if err := decodeNumber(st["sleepMillis"], &ms); err != nil || ms < 0 {
			return fmt.Sprintf("sleepMillis: %s is not a number of ms", st["sleepMillis"])
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return ""
	case "connect":
		return r.connectStep(st)
	case "raw":
		return r.rawStep(st)
	}
	return r.opStep(st)
}

// connect opens the scenario's connection anew with the key of that name ("admin", "gateway" or "wrong"); a
// refusal is a code, anything else an error.
func (r *runner) connect(key string) (ledger.Code, error) {
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	var k string
	switch key {
	case "admin":
		k = r.env.adminKey
	case "gateway":
		k = r.env.gatewayKey
	case "wrong":
		k = "qlk_conformance-wrong-key"
	default:
		return 0, fmt.Errorf("key %q: admin, gateway or wrong", key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	c, err := ledger.Dial(ctx, ledger.Config{Addr: r.env.addr, Key: k})
	var refused *ledger.RejectionError
	if errors.As(err, &refused) {
		return refused.Result.Code, nil
	}
	if err != nil {
		return 0, err
	}
	r.conn = c
	return ledger.CodeOK, nil
}

func (r *runner) connectStep(st map[string]json.RawMessage) string {
	if err := only(st, "connect", "expect"); err != nil {
		return err.Error()
	}
	var connect struct {
		Key string `json:"key"`
	}
	if err := strict(st["connect"], &connect); err != nil {
		return "connect: " + err.Error()
	}
	var expect struct {
		Code string `json:"code"`
	}
	if err := strict(st["expect"], &expect); err != nil {
		return "expect: " + err.Error()
	}
	code, err := r.connect(connect.Key)
	if err != nil {
		return "connect: " + err.Error()
	}
	if expect.Code != "" && code.String() != expect.Code {
		return fmt.Sprintf("code: expected %s, got %s", expect.Code, code)
	}
	return ""
}

// opStep sends an operation (N times at once with "pipeline") and checks the results.
func (r *runner) opStep(st map[string]json.RawMessage) string {
	var name string
	if err := json.Unmarshal(st["op"], &name); err != nil {
		return "op: " + err.Error()
	}
	spec, ok := ops[name]
	if !ok {
		return fmt.Sprintf("op %q: not an operation this runner knows", name)
	}
	allowed := append([]string{"op", "expect", "expectCounts", "pipeline"}, spec.fields...)
	if err := only(st, allowed...); err != nil {
		return fmt.Sprintf("%s: %v", name, err)
	}
	n := int64(1)
	_, pipelined := st["pipeline"]
	if pipelined {
		if err := decodeNumber(st["pipeline"], &n); err != nil || n < 1 || n > 10000 {
			return fmt.Sprintf("pipeline: %s is not 1 to 10,000", st["pipeline"])
		}
	}
	_, hasExpect := st["expect"]
	_, hasCounts := st["expectCounts"]
	if hasExpect == hasCounts || (hasCounts && !pipelined) {
		return "an operation step has expect, or expectCounts with pipeline"
	}
	if r.conn == nil {
		return "no connection (the last connect was refused)"
	}
	requests := make([]ledger.Request, n)
	for i := range requests {
		f := &fields{m: st, r: r}
		if pipelined {
			f.suffix = "#" + strconv.Itoa(i)
		}
		requests[i] = spec.build(f)
		if f.err != nil {
			return f.err.Error()
		}
	}
	results, err := r.send(requests)
	if err != nil {
		return err.Error()
	}
	if hasCounts {
		return checkCounts(st["expectCounts"], results)
	}
	var expect map[string]json.RawMessage
	if err := decodeStrict(st["expect"], &expect); err != nil {
		return "expect: " + err.Error()
	}
	for i, res := range results {
		what, err := r.check(expect, res)
		if err != nil {
			return "expect: " + err.Error()
		}
		if what != "" {
			if pipelined {
				return fmt.Sprintf("result #%d: %s", i, what)
			}
			return what
		}
	}
	return ""
}

// send puts every request in flight at once and waits for all of their results.
func (r *runner) send(requests []ledger.Request) ([]ledger.Result, error) {
	done := make(chan *ledger.Call, len(requests))
	calls := make([]*ledger.Call, len(requests))
	for i, req := range requests {
		calls[i] = r.conn.Go(req, done)
	}
	timeout := time.After(stepTimeout)
	for range requests {
		select {
		case <-done:
		case <-timeout:
			return nil, fmt.Errorf("no results within %s", stepTimeout)
		}
	}
	results := make([]ledger.Result, len(calls))
	for i, call := range calls {
		var rejected *ledger.RejectionError
		if call.Err != nil && !errors.As(call.Err, &rejected) {
			return nil, fmt.Errorf("no result: %v", call.Err)
		}
		results[i] = call.Result
	}
	return results, nil
}

// check compares the fields expect names with the result's and says how they differ ("" when they do not).
func (r *runner) check(expect map[string]json.RawMessage, res ledger.Result) (string, error) {
	names := make([]string, 0, len(expect))
	for name := range expect {
		names = append(names, name)
	}
	sort.Strings(names)
	var diffs []string
	for _, name := range names {
		value := expect[name]
		switch name {
		case "code":
			var want string
			if err := json.Unmarshal(value, &want); err != nil {
				return "", fmt.Errorf("code: %v", err)
			}
			if res.Code.String() != want {
				diffs = append(diffs, fmt.Sprintf("code: expected %s, got %s", want, res.Code))
			}
			continue
		}
		if flag, ok := flags[name]; ok {
			var want bool
			if err := json.Unmarshal(value, &want); err != nil {
				return "", fmt.Errorf("%s: %v", name, err)
			}
			if got := flag(res); got != want {
				diffs = append(diffs, fmt.Sprintf("%s: expected %t, got %t", name, want, got))
			}
			continue
		}
		number, ok := numbers[name]
		if !ok {
			return "", fmt.Errorf("%q is not a Result field this runner checks", name)
		}
		got := number(res)
		var want int64
		if decodeNumber(value, &want) == nil {
			if name == "virtualKeyId" {
				want = r.offset(want)
			}
			if got != want {
				diffs = append(diffs, fmt.Sprintf("%s: expected %d, got %d", name, want, got))
			}
			continue
		}
		var bounds struct {
			Min *json.Number `json:"min"`
			Max *json.Number `json:"max"`
		}
		if err := strict(value, &bounds); err != nil || bounds.Min == nil || bounds.Max == nil {
			return "", fmt.Errorf("%s: %s is neither a number nor {\"min\": a, \"max\": b}", name, value)
		}
		low, err1 := bounds.Min.Int64()
		high, err2 := bounds.Max.Int64()
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("%s: bounds %s are not int64", name, value)
		}
		if got < low || got > high {
			diffs = append(diffs, fmt.Sprintf("%s: expected %d to %d, got %d", name, low, high, got))
		}
	}
	return strings.Join(diffs, "; "), nil
}

// checkCounts compares how many results have each code with expectCounts.
func checkCounts(raw json.RawMessage, results []ledger.Result) string {
	var want map[string]int
	if err := json.Unmarshal(raw, &want); err != nil {
		return "expectCounts: " + err.Error()
	}
	got := map[string]int{}
	for _, res := range results {
		got[res.Code.String()]++
	}
	for code, n := range want {
		if n == 0 {
			delete(want, code)
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(got) { // fmt prints maps in key order
		return fmt.Sprintf("counts: expected %v, got %v", want, got)
	}
	return ""
}

// offset adds the run's base to a positive user, key or group id of the file.
func (r *runner) offset(id int64) int64 {
	if id > 0 {
		return id + r.env.base
	}
	return id
}

// id maps a request id's name to the random id it got on its first use in this scenario.
func (r *runner) id(name string) ledger.ID {
	id, ok := r.ids[name]
	if !ok {
		id = ledger.RandomID()
		r.ids[name] = id
	}
	return id
}

var flags = map[string]func(ledger.Result) bool{
	"duplicate":    func(r ledger.Result) bool { return r.Duplicate },
	"exceededHold": func(r ledger.Result) bool { return r.ExceededHold },
	"frozen":       func(r ledger.Result) bool { return r.Frozen },
	"keyRevoked":   func(r ledger.Result) bool { return r.KeyRevoked },
	"keyExpired":   func(r ledger.Result) bool { return r.KeyExpired },
}

var numbers = map[string]func(ledger.Result) int64{
	"fromFree":           func(r ledger.Result) int64 { return r.FromFree },
	"fromBalance":        func(r ledger.Result) int64 { return r.FromBalance },
	"returned":           func(r ledger.Result) int64 { return r.Returned },
	"balance":            func(r ledger.Result) int64 { return r.Balance },
	"held":               func(r ledger.Result) int64 { return r.Held },
	"creditLimit":        func(r ledger.Result) int64 { return r.CreditLimit },
	"freeRemaining":      func(r ledger.Result) int64 { return r.FreeRemaining },
	"virtualKeyId":       func(r ledger.Result) int64 { return r.VirtualKeyID },
	"units":              func(r ledger.Result) int64 { return r.Units },
	"amount":             func(r ledger.Result) int64 { return r.Amount },
	"retryAfterMillis":   func(r ledger.Result) int64 { return r.RetryAfterMillis },
	"keySpent":           func(r ledger.Result) int64 { return r.KeySpent },
	"keyBudgetRemaining": func(r ledger.Result) int64 { return r.KeyBudgetRemaining },
}

// only refuses a step with a field not in allowed: a misspelt field fails rather than going unchecked.
func only(st map[string]json.RawMessage, allowed ...string) error {
	for name := range st {
		found := false
		for _, a := range allowed {
			found = found || a == name
		}
		if !found {
			return fmt.Errorf("%q is not a field of this step (it may have %s)", name, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// strict decodes an object, refusing fields v does not have.
func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// decodeNumber reads a JSON integer into an int64 without going through float64.
func decodeNumber(raw json.RawMessage, v *int64) error {
	var n json.Number
	if err := decodeStrict(raw, &n); err != nil {
		return err
	}
	i, err := n.Int64()
	if err != nil {
		return err
	}
	*v = i
	return nil
}
