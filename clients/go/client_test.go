package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
	"github.com/quotaledger/ledger/clients/go/ledgertest"
)

// shared is one ledger for the tests that do not restart it or need TLS: each test uses users of its own.
var (
	shared    *ledgertest.Server
	sharedErr error
	nextUser  atomic.Int64
)

func TestMain(m *testing.M) {
	nextUser.Store(rand.New(rand.NewSource(time.Now().UnixNano())).Int63n(1<<40) + 1)
	shared, sharedErr = ledgertest.New(ledgertest.Options{})
	if sharedErr != nil && !errors.Is(sharedErr, ledgertest.ErrNotBuilt) {
		fmt.Fprintln(os.Stderr, sharedErr)
		os.Exit(1)
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// server returns the shared ledger, or skips the test when the ledger is not built.
func server(t *testing.T) *ledgertest.Server {
	t.Helper()
	if shared == nil {
		t.Skip(sharedErr)
	}
	return shared
}

// user returns a user id no other test uses.
func user() int64 {
	return nextUser.Add(1)
}

func dial(t *testing.T, cfg ledger.Config) *ledger.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ledger.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *ledger.Client, req ledger.Request) ledger.Result {
	t.Helper()
	r, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Op(), err)
	}
	return r
}

func TestDoAnswersEveryOperation(t *testing.T) {
	s := server(t)
	admin := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	if admin.Role() != ledger.RoleAdmin {
		t.Fatalf("role %s, want ADMIN", admin.Role())
	}
	u := user()

	r := do(t, admin, ledger.Credit{UserID: u, Amount: 1000})
	if r.Op != ledger.OpCredit || r.Balance != 1000 || r.RequestID.IsZero() {
		t.Fatalf("credit: %+v", r)
	}
	do(t, admin, ledger.Grant{UserID: u, ServiceID: 7, Allowance: 100, Period: ledger.PeriodDay})
	r = do(t, admin, ledger.Deduct{UserID: u, ServiceID: 7, Amount: 150})
	if r.FromFree != 100 || r.FromBalance != 50 || r.Balance != 950 || r.FreeRemaining != 0 {
		t.Fatalf("deduct: %+v", r)
	}

	hold := do(t, admin, ledger.Reserve{UserID: u, ServiceID: 7, Amount: 300, TTL: time.Minute})
	if hold.Held != 300 || hold.Balance != 650 {
		t.Fatalf("reserve: %+v", hold)
	}
	r = do(t, admin, ledger.Settle{HoldID: hold.RequestID, Actual: 120})
	if r.Returned != 180 || r.Balance != 830 || r.Held != 0 {
		t.Fatalf("settle: %+v", r)
	}
	hold = do(t, admin, ledger.Reserve{UserID: u, ServiceID: 7, Amount: 30, TTL: time.Minute})
	if r = do(t, admin, ledger.Release{HoldID: hold.RequestID}); r.Returned != 30 || r.Balance != 830 {
		t.Fatalf("release: %+v", r)
	}

	do(t, admin, ledger.SetLimit{UserID: u, CreditLimit: 500})
	do(t, admin, ledger.Freeze{UserID: u})
	if r = do(t, admin, ledger.Query{UserID: u, ServiceID: 7}); !r.Frozen || r.CreditLimit != 500 || r.Balance != 830 {
		t.Fatalf("query: %+v", r)
	}
	do(t, admin, ledger.Unfreeze{UserID: u})
	if r = do(t, admin, ledger.Deduct{UserID: u, ServiceID: 7, Amount: 1300}); r.Balance != -470 {
		t.Fatalf("deduct into the credit limit: %+v", r)
	}
}

func TestDoAnswersGatewayPolicyOperations(t *testing.T) {
	s := server(t)
	admin := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	u := user()
	key := u*10 + 1
	group := int32(u%1_000_000 + 1)

	do(t, admin, ledger.Credit{UserID: u, Amount: 1_000_000})
	do(t, admin, ledger.SetPrice{GroupID: group, ServiceID: 3, Multiplier: 1_500_000})
	do(t, admin, ledger.SetGroup{UserID: u, GroupID: group})
	r := do(t, admin, ledger.SetVirtualKey{UserID: u, VirtualKeyID: key, Budget: 1000, ResetPeriod: ledger.PeriodMonth,
		Services: []int32{3, 4}})
	if r.VirtualKeyID != key || r.Amount != 1000 {
		t.Fatalf("set virtual key: %+v", r)
	}
	do(t, admin, ledger.SetVirtualKeyServiceBudget{UserID: u, VirtualKeyID: key, ServiceID: 4, Budget: 10})
	do(t, admin, ledger.SetRateLimit{UserID: u, VirtualKeyID: key, Requests: 1000, Per: time.Minute})
	do(t, admin, ledger.SetSpendWindow{UserID: u, Max: 100_000, Per: 5 * time.Hour})
	do(t, admin, ledger.SetConcurrency{UserID: u, VirtualKeyID: key, Max: 1})

	// 101 units at 1.5 each: ceil(151.5) = 152
	r = do(t, admin, ledger.Deduct{UserID: u, ServiceID: 3, VirtualKeyID: key, Units: 101})
	if r.Units != 101 || r.Amount != 152 || r.FromBalance != 152 || r.KeySpent != 152 || r.KeyBudgetRemaining != 848 {
		t.Fatalf("priced deduct through a key: %+v", r)
	}
	_, err := admin.Do(context.Background(), ledger.Deduct{UserID: u, ServiceID: 5, VirtualKeyID: key, Amount: 1})
	if !errors.Is(err, ledger.ErrServiceNotAllowed) {
		t.Fatalf("service 5 through the key: %v", err)
	}
	_, err = admin.Do(context.Background(), ledger.Deduct{UserID: u, ServiceID: 4, VirtualKeyID: key, Amount: 11})
	if !errors.Is(err, ledger.ErrVirtualKeyBudgetExceeded) {
		t.Fatalf("beyond the key's budget for service 4: %v", err)
	}
	do(t, admin, ledger.Reserve{UserID: u, ServiceID: 3, VirtualKeyID: key, Amount: 1, TTL: time.Minute})
	_, err = admin.Do(context.Background(),
		ledger.Reserve{UserID: u, ServiceID: 3, VirtualKeyID: key, Amount: 1, TTL: time.Minute})
	if !errors.Is(err, ledger.ErrConcurrencyLimited) {
		t.Fatalf("a second hold beyond the cap of 1: %v", err)
	}
	do(t, admin, ledger.RevokeVirtualKey{UserID: u, VirtualKeyID: key})
	if r = do(t, admin, ledger.Query{UserID: u, VirtualKeyID: key}); !r.KeyRevoked || r.KeySpent != 153 {
		t.Fatalf("query by key: %+v", r)
	}
	_, err = admin.Do(context.Background(), ledger.Deduct{UserID: u, ServiceID: 3, VirtualKeyID: key, Amount: 1})
	if !errors.Is(err, ledger.ErrVirtualKeyRevoked) {
		t.Fatalf("through a revoked key: %v", err)
	}
	_, err = admin.Do(context.Background(), ledger.SetVirtualKey{UserID: u, VirtualKeyID: key + 1, Unlimited: true,
		Services: make([]int32, ledger.MaxServices+1)})
	if err == nil || errors.As(err, new(*ledger.RejectionError)) {
		t.Fatalf("13 services: %v, want the client's own error before sending", err)
	}
}

func TestRejectionsAreErrorsThatCarryTheResult(t *testing.T) {
	s := server(t)
	admin := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	gateway := dial(t, ledger.Config{Addr: s.Addr, Key: s.GatewayKey})
	if gateway.Role() != ledger.RoleGateway {
		t.Fatalf("role %s, want GATEWAY", gateway.Role())
	}
	u := user()
	do(t, admin, ledger.Credit{UserID: u, Amount: 10})

	r, err := gateway.Do(context.Background(), ledger.Deduct{UserID: u, ServiceID: 1, Amount: 11})
	var rejected *ledger.RejectionError
	if !errors.Is(err, ledger.ErrInsufficientFunds) || !errors.As(err, &rejected) {
		t.Fatalf("deduct beyond the balance: %v", err)
	}
	if errors.Is(err, ledger.ErrFrozen) || rejected.Result.Balance != 10 || r.Code != ledger.CodeInsufficientFunds ||
		r.Balance != 10 {
		t.Fatalf("the rejection's result: %+v / %+v", rejected.Result, r)
	}
	if _, err = gateway.Do(context.Background(), ledger.Credit{UserID: u, Amount: 1}); !errors.Is(err, ledger.ErrForbidden) {
		t.Fatalf("credit with a gateway key: %v", err)
	}
	if _, err = gateway.Do(context.Background(), ledger.Deduct{UserID: user(), ServiceID: 1, Amount: 1}); !errors.Is(err,
		ledger.ErrUnknownAccount) {
		t.Fatalf("deduct of a user without an account: %v", err)
	}
	if _, err = gateway.Do(context.Background(), ledger.Settle{HoldID: ledger.RandomID(), Actual: 1}); !errors.Is(err,
		ledger.ErrUnknownHold) {
		t.Fatalf("settle of no hold: %v", err)
	}
	report, err := gateway.Snapshot(context.Background())
	if !errors.Is(err, ledger.ErrForbidden) || report.Code != ledger.CodeForbidden {
		t.Fatalf("snapshot with a gateway key: %+v, %v", report, err)
	}
	if report, err = admin.Snapshot(context.Background()); err != nil || report.Sequence <= 0 {
		t.Fatalf("snapshot: %+v, %v", report, err)
	}
}

func TestSameRequestIDGetsTheOriginalResultMarkedDuplicate(t *testing.T) {
	s := server(t)
	c := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})
	id := ledger.RandomID()

	first := do(t, c, ledger.Deduct{RequestID: id, UserID: u, ServiceID: 1, Amount: 30})
	again := do(t, c, ledger.Deduct{RequestID: id, UserID: u, ServiceID: 1, Amount: 30})
	if first.Duplicate || !again.Duplicate || again.FromBalance != 30 || again.Balance != 70 || again.RequestID != id {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	_, err := c.Do(context.Background(), ledger.Deduct{RequestID: id, UserID: u, ServiceID: 1, Amount: 31})
	if !errors.Is(err, ledger.ErrRequestIDConflict) {
		t.Fatalf("same id, other amount: %v", err)
	}
	if r := do(t, c, ledger.Query{UserID: u}); r.Balance != 70 {
		t.Fatalf("charged more than once: %+v", r)
	}
}

func TestLostResultIsResentWithTheSameID(t *testing.T) {
	s := server(t)
	p := newProxy(t, s.Addr)
	c := dial(t, ledger.Config{Addr: p.addr(), Key: s.AdminKey, Timeout: 300 * time.Millisecond, Attempts: 5})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})

	p.dropAnswers(1)
	r := do(t, c, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 40})
	if p.droppedAnswers() != 1 || !r.Duplicate || r.FromBalance != 40 || r.Balance != 60 {
		t.Fatalf("after a lost answer: %+v (dropped %d)", r, p.droppedAnswers())
	}
	if r = do(t, c, ledger.Query{UserID: u}); r.Balance != 60 {
		t.Fatalf("charged twice: %+v", r)
	}
}

func TestNoResultAfterEveryAttempt(t *testing.T) {
	s := server(t)
	p := newProxy(t, s.Addr)
	c := dial(t, ledger.Config{Addr: p.addr(), Key: s.AdminKey, Timeout: 100 * time.Millisecond, Attempts: 2})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})

	p.dropAnswers(2)
	r, err := c.Do(context.Background(), ledger.Deduct{UserID: u, ServiceID: 1, Amount: 1})
	if !errors.Is(err, ledger.ErrNoResult) || r.RequestID.IsZero() || r.Op != ledger.OpDeduct {
		t.Fatalf("every answer lost: %+v, %v", r, err)
	}
	// it was applied: the same id now tells
	r = do(t, c, ledger.Deduct{RequestID: r.RequestID, UserID: u, ServiceID: 1, Amount: 1})
	if !r.Duplicate || r.Balance != 99 {
		t.Fatalf("the same request again: %+v", r)
	}
}

func TestManyRequestsInFlightOnOneConnection(t *testing.T) {
	s := server(t)
	p := newProxy(t, s.Addr)
	c := dial(t, ledger.Config{Addr: p.addr(), Key: s.AdminKey, Timeout: time.Minute})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 1_000_000})

	const n = 2000
	p.hold()
	done := make(chan *ledger.Call, n)
	for i := 0; i < n; i++ {
		c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: int64(i%7 + 1)}, done)
	}
	if c.InFlight() != n {
		t.Fatalf("%d in flight, want %d", c.InFlight(), n)
	}
	p.release()
	var charged int64
	seen := map[ledger.ID]bool{}
	for i := 0; i < n; i++ {
		call := <-done
		if call.Err != nil || call.Result.Duplicate || seen[call.Result.RequestID] {
			t.Fatalf("call %d: %+v, %v", i, call.Result, call.Err)
		}
		if want := call.Request.(ledger.Deduct).Amount; call.Result.FromBalance != want {
			t.Fatalf("result of another request: charged %d, asked %d", call.Result.FromBalance, want)
		}
		seen[call.Result.RequestID] = true
		charged += call.Result.FromBalance
	}
	if r := do(t, c, ledger.Query{UserID: u}); r.Balance != 1_000_000-charged {
		t.Fatalf("balance %d, want %d", r.Balance, 1_000_000-charged)
	}
}

func TestContextDeadlineEndsTheWaitAndTheSameIDTellsTheOutcome(t *testing.T) {
	s := server(t)
	p := newProxy(t, s.Addr)
	c := dial(t, ledger.Config{Addr: p.addr(), Key: s.AdminKey, Timeout: time.Minute})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})

	p.hold()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r, err := c.Do(ctx, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 25})
	if !errors.Is(err, context.DeadlineExceeded) || r.RequestID.IsZero() {
		t.Fatalf("held answer: %+v, %v", r, err)
	}
	if c.InFlight() != 0 {
		t.Fatalf("%d still in flight after the deadline", c.InFlight())
	}
	p.release()
	r = do(t, c, ledger.Deduct{RequestID: r.RequestID, UserID: u, ServiceID: 1, Amount: 25})
	if !r.Duplicate || r.Balance != 75 {
		t.Fatalf("the same request after the deadline: %+v", r)
	}
}

func TestReconnectResendsWhatWasInFlight(t *testing.T) {
	s := server(t)
	p := newProxy(t, s.Addr)
	c := dial(t, ledger.Config{Addr: p.addr(), Key: s.AdminKey, Timeout: time.Minute})
	direct := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})

	p.hold()
	call := c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}, nil)
	for do(t, direct, ledger.Query{UserID: u}).Balance != 90 {
		time.Sleep(time.Millisecond) // until the ledger has applied it; its answer is held back
	}
	p.cut() // the answer is lost with the connection; the client connects again and resends
	p.release()
	var done *ledger.Call
	select {
	case done = <-call.Done:
	case <-time.After(15 * time.Second): // well before the client's own timeout: only the reconnect resends
		t.Fatal("not sent again on the new connection")
	}
	if done.Err != nil || !done.Result.Duplicate || done.Result.Balance != 90 {
		t.Fatalf("after the reconnect: %+v, %v", done.Result, done.Err)
	}
	r := do(t, c, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10})
	if r.Balance != 80 {
		t.Fatalf("a new request on the new connection: %+v", r)
	}
}

func TestReconnectAfterTheLedgerRestarts(t *testing.T) {
	s := ledgertest.Start(t, ledgertest.Options{})
	c := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey, Timeout: time.Second, Attempts: 60})
	u := user()
	first := do(t, c, ledger.Credit{UserID: u, Amount: 100})

	s.Stop()
	call := c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}, nil) // waits for the ledger
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	done := <-call.Done
	if done.Err != nil || done.Result.Balance != 90 {
		t.Fatalf("sent while the ledger was down: %+v, %v", done.Result, done.Err)
	}
	r := do(t, c, ledger.Credit{RequestID: first.RequestID, UserID: u, Amount: 100})
	if !r.Duplicate || r.Balance != 100 {
		t.Fatalf("a retry from before the restart: %+v", r)
	}
}

func TestDialSkipsAnEndpointThatIsDown(t *testing.T) {
	s := server(t)
	c := dial(t, ledger.Config{Endpoints: []string{closedPort(t), s.Addr}, Key: s.AdminKey})
	u := user()
	if r := do(t, c, ledger.Credit{UserID: u, Amount: 100}); r.Balance != 100 {
		t.Fatalf("through the second endpoint: %+v", r)
	}
}

func TestFailoverResendsWhatWasInFlightOnTheNextEndpoint(t *testing.T) {
	s := server(t)
	a, b := newProxy(t, s.Addr), newProxy(t, s.Addr) // two members of a cluster, as the client sees them
	c := dial(t, ledger.Config{Endpoints: []string{a.addr(), b.addr()}, Key: s.AdminKey, Timeout: time.Minute})
	direct := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})
	if a.connections() != 1 || b.connections() != 0 {
		t.Fatalf("connections to a, b: %d, %d; want the first endpoint", a.connections(), b.connections())
	}

	a.hold()
	calls := make([]*ledger.Call, 5)
	for i := range calls {
		calls[i] = c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}, nil)
	}
	for do(t, direct, ledger.Query{UserID: u}).Balance != 50 {
		time.Sleep(time.Millisecond) // until the ledger has applied them all; their answers are held back
	}
	a.stop() // the member dies with the answers: the client goes on to b and resends there
	balances := map[int64]bool{}
	for i, call := range calls {
		var done *ledger.Call
		select {
		case done = <-call.Done:
		case <-time.After(15 * time.Second): // well before the client's own timeout: only the failover resends
			t.Fatalf("deduct %d not sent again on the next endpoint", i)
		}
		if done.Err != nil || !done.Result.Duplicate { // Duplicate: the ledger saw the same request id again
			t.Fatalf("deduct %d after the failover: %+v, %v", i, done.Result, done.Err)
		}
		balances[done.Result.Balance] = true
	}
	if len(balances) != 5 || !balances[50] || !balances[90] {
		t.Fatalf("the original results are balances 90 to 50, one each: %v", balances)
	}
	if r := do(t, c, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}); r.Balance != 40 || r.Duplicate {
		t.Fatalf("a new request after the failover: %+v", r)
	}
	if b.connections() != 1 {
		t.Fatalf("connections to b: %d, want 1", b.connections())
	}
}

func TestFailoverToAnotherClusterMemberWhenOneIsKilled(t *testing.T) {
	cluster := ledgertest.StartCluster(t, 3)
	leader, err := cluster.Leader(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	follower, other := cluster.Members[(leader+1)%3], cluster.Members[(leader+2)%3]
	p := newProxy(t, follower.Addr) // holds the follower's answers back, so that they die with it
	c := dial(t, ledger.Config{Endpoints: []string{p.addr(), other.Addr, cluster.Members[leader].Addr},
		Key: cluster.AdminKey, Timeout: time.Minute})
	direct := dial(t, ledger.Config{Addr: other.Addr, Key: cluster.AdminKey})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 100})

	p.hold()
	calls := make([]*ledger.Call, 5)
	for i := range calls {
		calls[i] = c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}, nil)
	}
	for do(t, direct, ledger.Query{UserID: u}).Balance != 50 {
		time.Sleep(time.Millisecond) // until the cluster has committed them all
	}
	follower.Kill()
	p.stop()
	balances := map[int64]bool{}
	for i, call := range calls {
		var done *ledger.Call
		select {
		case done = <-call.Done:
		case <-time.After(30 * time.Second): // before the client's own timeout: only the failover resends
			t.Fatalf("deduct %d not sent again to another member", i)
		}
		if done.Err != nil || !done.Result.Duplicate { // the replicated dedupe window knows the request id
			t.Fatalf("deduct %d after the failover: %+v, %v", i, done.Result, done.Err)
		}
		balances[done.Result.Balance] = true
	}
	if len(balances) != 5 || !balances[50] || !balances[90] {
		t.Fatalf("the original results are balances 90 to 50, one each: %v", balances)
	}
	if r := do(t, c, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 10}); r.Balance != 40 || r.Duplicate {
		t.Fatalf("a new request after the failover: %+v", r)
	}
}

// closedPort returns a loopback host:port that nothing listens on: connecting to it is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestWrongKeyIsRefusedAtDial(t *testing.T) {
	s := server(t)
	_, err := ledger.Dial(context.Background(), ledger.Config{Addr: s.Addr, Key: "qlk_not-a-key"})
	if !errors.Is(err, ledger.ErrUnauthenticated) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestPoolSpreadsRequestsOverItsConnections(t *testing.T) {
	s := server(t)
	c := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey, Conns: 3})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 1000})
	done := make(chan *ledger.Call, 300)
	for i := 0; i < 300; i++ {
		c.Go(ledger.Deduct{UserID: u, ServiceID: 1, Amount: 1}, done)
	}
	for i := 0; i < 300; i++ {
		if call := <-done; call.Err != nil {
			t.Fatal(call.Err)
		}
	}
	if r := do(t, c, ledger.Query{UserID: u}); r.Balance != 700 {
		t.Fatalf("balance %d, want 700", r.Balance)
	}
}

func TestClosedClientFailsRequests(t *testing.T) {
	s := server(t)
	c := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	c.Close()
	if _, err := c.Do(context.Background(), ledger.Query{UserID: 1}); !errors.Is(err, ledger.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
