package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotaledger/ledger/clients/go/codec"
)

// Every result code of the schema has a sentinel error that errors.Is matches against a rejection of that code only:
// a code the schema gains fails here until it has its Err variable.
func TestEverySchemaCodeHasItsSentinel(t *testing.T) {
	sentinels := map[error]bool{
		ErrInsufficientFunds: true, ErrUnknownAccount: true, ErrFrozen: true, ErrUnknownHold: true,
		ErrHoldAlreadyClosed: true, ErrInvalidAmount: true, ErrInvalidArgument: true, ErrAmountOverflow: true,
		ErrRequestIDConflict: true, ErrCapacityExceeded: true, ErrInternalError: true, ErrUnavailable: true,
		ErrUnknownVirtualKey: true, ErrVirtualKeyRevoked: true, ErrVirtualKeyExpired: true,
		ErrServiceNotAllowed: true, ErrVirtualKeyBudgetExceeded: true, ErrRateLimited: true,
		ErrConcurrencyLimited: true, ErrSpendWindowExceeded: true, ErrUnauthenticated: true, ErrForbidden: true,
		ErrMalformed: true, ErrUnknownMessage: true, ErrUnsupportedVersion: true, ErrTooManyInFlight: true,
	}
	for raw := 0; raw < 256; raw++ {
		known, err := codec.LookupResultCode(uint8(raw))
		if err != nil || known == codec.ResultCode_NULL_VALUE || known == codec.ResultCode_OK {
			continue
		}
		code := Code(raw)
		if code.String() != known.String() {
			t.Errorf("code %d is %s, want %s", raw, code, known)
		}
		rejection := Result{Op: OpDeduct, Code: code}.Err()
		matched := 0
		for sentinel := range sentinels {
			if errors.Is(rejection, sentinel) {
				matched++
				if sentinel != CodeError(code) {
					t.Errorf("a %s rejection matches %v", code, sentinel)
				}
			}
		}
		if matched != 1 {
			t.Errorf("no Err variable for %s (%d): add it to codes.go", known, raw)
		}
	}
	if (Result{}).Err() != nil || CodeError(CodeOK) != nil {
		t.Error("OK is not an error")
	}
	unknown := (Result{Code: 42}).Err()
	if !errors.Is(unknown, CodeError(42)) || Code(42).String() != "CODE_42" {
		t.Errorf("a code this client does not know: %v", unknown)
	}
}

// Every operation of the schema but Hello and Snapshot (their own calls) has a request type.
func TestEverySchemaOpHasItsRequest(t *testing.T) {
	requests := []Request{Deduct{}, Reserve{}, Settle{}, Release{}, Credit{}, Grant{}, SetLimit{}, Freeze{},
		Unfreeze{}, Query{}, SetVirtualKey{}, SetVirtualKeyServiceBudget{}, RevokeVirtualKey{}, SetPrice{},
		SetGroup{}, SetRateLimit{}, SetSpendWindow{}, SetConcurrency{}}
	have := map[Op]bool{}
	for _, r := range requests {
		have[r.Op()] = true
	}
	for raw := 0; raw < 256; raw++ {
		known, err := codec.LookupOp(uint8(raw))
		if err != nil || known == codec.Op_NULL_VALUE || known == codec.Op_NONE || known == codec.Op_HELLO ||
			known == codec.Op_SNAPSHOT {
			continue
		}
		if !have[Op(raw)] {
			t.Errorf("no request type for %s", known)
		}
	}
}

// The frames are the bytes docs/protocol.md describes, offsets from the start of the block.
func TestFramesHaveTheDocumentedLayout(t *testing.T) {
	var b [maxFrame]byte
	id := ID{Hi: 0x0102030405060708, Lo: -2}
	n, err := Deduct{UserID: 42, ServiceID: 7, Amount: 1500, VirtualKeyID: 9, Units: 3}.encode(b[:], 77, id)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	block := b[lengthPrefix+headerLength:]
	if n != 4+8+60 || le.Uint32(b[:]) != 68 || le.Uint16(b[4:]) != 60 || le.Uint16(b[6:]) != 10 ||
		le.Uint16(b[8:]) != 7070 || le.Uint16(b[10:]) != 2 {
		t.Fatalf("deduct frame %d bytes, header % x", n, b[:12])
	}
	if int64(le.Uint64(block[0:])) != 77 || int64(le.Uint64(block[8:])) != id.Hi || int64(le.Uint64(block[16:])) != id.Lo ||
		le.Uint64(block[24:]) != 42 || le.Uint32(block[32:]) != 7 || le.Uint64(block[36:]) != 1500 ||
		le.Uint64(block[44:]) != 9 || le.Uint64(block[52:]) != 3 {
		t.Fatalf("deduct block % x", block[:60])
	}

	n, err = SetVirtualKey{UserID: 1, VirtualKeyID: 2, Budget: 3, Unlimited: true, ResetPeriod: PeriodNone,
		ResetEvery: 90 * time.Second, ExpiresAt: time.UnixMilli(1234), Services: []int32{5, 6}}.encode(b[:], 1, id)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4+8+66+4+8 || block[48] != 1 || block[49] != 0 || le.Uint64(block[50:]) != 90000 ||
		le.Uint64(block[58:]) != 1234 || le.Uint16(block[66:]) != 4 || le.Uint16(block[68:]) != 2 ||
		le.Uint32(block[70:]) != 5 || le.Uint32(block[74:]) != 6 {
		t.Fatalf("set virtual key frame of %d bytes: % x", n, block[:78])
	}
	if _, err = (SetVirtualKey{Services: make([]int32, MaxServices+1)}).encode(b[:], 1, id); err == nil {
		t.Fatal("13 services encoded")
	}

	hello, err := encodeHello("qlk_abc")
	if err != nil || len(hello) != 4+8+10+2+7 || le.Uint16(hello[10:]) != 2 || le.Uint16(hello[20:]) != 2 ||
		le.Uint16(hello[22:]) != 7 || string(hello[24:]) != "qlk_abc" {
		t.Fatalf("hello % x, %v", hello, err)
	}
}

// Encoding a request allocates nothing: the frame goes into the call's own array.
func TestEncodingAllocatesNothing(t *testing.T) {
	var b [maxFrame]byte
	d := Deduct{UserID: 1, ServiceID: 2, Amount: 3}
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = d.encode(b[:], 1, ID{Hi: 1, Lo: 2})
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Deduct", allocs)
	}
}

func TestResultDecodesEveryField(t *testing.T) {
	msg := make([]byte, headerLength+int(codec.ResultSbeBlockLength))
	var m codec.Result
	m.WrapAndApplyHeader(msg, 0, size(msg)).SetCorrelationId(5).SetOp(codec.Op_SETTLE).
		SetCode(codec.ResultCode_RATE_LIMITED).SetFromFree(1).SetFromBalance(2).SetReturned(3).SetBalance(4).
		SetHeld(5).SetCreditLimit(6).SetFreeRemaining(7).SetVirtualKeyId(8).SetUnits(9).SetAmount(10).
		SetRetryAfterMillis(11).SetKeySpent(12).SetKeyBudgetRemaining(-1)
	m.Flags().SetDuplicate(true).SetKeyExpired(true)
	var d decoder
	if d.wrap(msg) != answerResult || d.result.CorrelationId() != 5 {
		t.Fatal("not a result")
	}
	var r Result
	d.decodeResult(&r)
	want := Result{Op: OpSettle, Code: CodeRateLimited, Duplicate: true, KeyExpired: true, FromFree: 1,
		FromBalance: 2, Returned: 3, Balance: 4, Held: 5, CreditLimit: 6, FreeRemaining: 7, VirtualKeyID: 8,
		Units: 9, Amount: 10, RetryAfterMillis: 11, KeySpent: 12, KeyBudgetRemaining: -1}
	if r != want {
		t.Fatalf("decoded %+v, want %+v", r, want)
	}
	if d.wrap(msg[:headerLength+67]) != answerNone {
		t.Fatal("a version-2 result cut short was decoded")
	}
}

func TestIDs(t *testing.T) {
	g := NewIDs()
	a, b := g.Next(), g.Next()
	if a.Hi == 0 || a.Hi != b.Hi || b.Lo != a.Lo+1 {
		t.Fatalf("ids %v then %v", a, b)
	}
	parsed, err := ParseID(a.String())
	if err != nil || parsed != a {
		t.Fatalf("%s parsed as %v, %v", a, parsed, err)
	}
	if id := (ID{Hi: 0x0123456789abcdef, Lo: -1}); id.String() != "01234567-89ab-cdef-ffff-ffffffffffff" {
		t.Fatalf("formatted %s", id)
	}
	if _, err := ParseID("nope"); err == nil {
		t.Fatal("parsed nope")
	}
}

func TestReadKeyLikeTheCLI(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "gateway.key")
	if err := os.WriteFile(keyFile, []byte("\n  from-file  \nsecond\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, AdminKeyFile), []byte("from-data-dir\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(KeyEnv, " from-env ")
	if key, err := ReadKey(keyFile, dir); err != nil || key != "from-file" {
		t.Fatalf("key file first: %q, %v", key, err)
	}
	if key, err := ReadKey("", dir); err != nil || key != "from-env" {
		t.Fatalf("then %s: %q, %v", KeyEnv, key, err)
	}
	t.Setenv(KeyEnv, "  ")
	if key, err := ReadKey("", dir); err != nil || key != "from-data-dir" {
		t.Fatalf("then the data directory's admin.key: %q, %v", key, err)
	}
	if _, err := ReadKey("", filepath.Join(dir, "none")); err == nil {
		t.Fatal("a key from nowhere")
	}
	empty := filepath.Join(dir, "empty.key")
	if err := os.WriteFile(empty, []byte("\n \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKeyFile(empty); err == nil {
		t.Fatal("a key from a blank file")
	}
}

// Dial tries every endpoint in turn and, when none takes the connection, says how many it tried and the last one's
// reason; a malformed endpoint is refused before any is dialled.
func TestDialNamesTheEndpointsItCouldNotReach(t *testing.T) {
	closed := make([]string, 2)
	for i := range closed {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed[i] = ln.Addr().String()
		ln.Close()
	}
	_, err := Dial(context.Background(), Config{Endpoints: closed, Key: "qlk_test", DialTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "any of 2 endpoints") || !strings.Contains(err.Error(), closed[1]) {
		t.Fatalf("no endpoint up: %v", err)
	}
	_, err = Dial(context.Background(), Config{Endpoints: []string{closed[0], "ledger-without-port"}, Key: "qlk_test"})
	if err == nil || !strings.Contains(err.Error(), `endpoint "ledger-without-port" is not host:port`) {
		t.Fatalf("a malformed endpoint: %v", err)
	}
}
