package main

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
	"github.com/quotaledger/ledger/clients/go/ledgertest"
)

// The gateway against the fake upstream and a live ledger: what each request costs, and that failures cost nothing.
func TestGatewayReservesForwardsAndSettles(t *testing.T) {
	s := ledgertest.Start(t, ledgertest.Options{})
	ctx := context.Background()
	admin, err := ledger.Dial(ctx, ledger.Config{Addr: s.Addr, Key: s.AdminKey})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	gatewayClient, err := ledger.Dial(ctx, ledger.Config{Addr: s.Addr, Key: s.GatewayKey, Conns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer gatewayClient.Close()

	var upstreamCalls atomic.Int64
	fake := fakeUpstream()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamCalls.Add(1)
		fake.ServeHTTP(w, r)
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)
	gw := httptest.NewServer(NewGateway(Gateway{Ledger: gatewayClient, Upstream: target, ServiceID: 3,
		Estimate: 100, HoldTTL: time.Minute, Log: log.New(io.Discard, "", 0)}))
	defer gw.Close()

	const user = 42
	mustDo(t, admin, ledger.Credit{UserID: user, Amount: 1000})
	balance := func() ledger.Result { return mustDo(t, admin, ledger.Query{UserID: user}) }
	post := func(body string, headers ...string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("X-User-Id", strconv.Itoa(user))
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}

	// 5 words in the body + max_tokens/2 of completion: charged 105 of the 200 held
	resp := post(`{"max_tokens": 200, "prompt": "say hi"}`)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Ledger-Charged") != "105" {
		t.Fatalf("status %d, charged %q", resp.StatusCode, resp.Header.Get("X-Ledger-Charged"))
	}
	if r := balance(); r.Balance != 895 || r.Held != 0 {
		t.Fatalf("after one request: %+v", r)
	}

	// the upstream reports more than the estimate: the settle charges it all
	if resp = post(`{}`, "X-Fake-Usage", "150"); resp.StatusCode != http.StatusOK ||
		resp.Header.Get("X-Ledger-Charged") != "150" {
		t.Fatalf("beyond the estimate: status %d, charged %q", resp.StatusCode, resp.Header.Get("X-Ledger-Charged"))
	}

	// the upstream fails: released, nothing charged
	if resp = post(`{"max_tokens": 50}`, "X-Fake-Status", "500"); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("upstream failure: status %d", resp.StatusCode)
	}
	if r := balance(); r.Balance != 745 || r.Held != 0 {
		t.Fatalf("after a failed request: %+v", r)
	}

	// more than the user has: refused before the upstream
	calls := upstreamCalls.Load()
	if resp = post(`{"max_tokens": 5000}`); resp.StatusCode != http.StatusPaymentRequired || upstreamCalls.Load() != calls {
		t.Fatalf("beyond the balance: status %d, upstream called %d times", resp.StatusCode, upstreamCalls.Load()-calls)
	}

	// a virtual key with a rate limit of one request a minute: the second gets 429 and when to retry
	mustDo(t, admin, ledger.SetVirtualKey{UserID: user, VirtualKeyID: 4201, Unlimited: true})
	mustDo(t, admin, ledger.SetRateLimit{UserID: user, VirtualKeyID: 4201, Requests: 1, Per: time.Minute})
	if resp = post(`{"max_tokens": 10}`, "X-Virtual-Key", "4201"); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request through the key: status %d", resp.StatusCode)
	}
	resp = post(`{"max_tokens": 10}`, "X-Virtual-Key", "4201")
	if after, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests ||
		after < 1 || after > 60 {
		t.Fatalf("second request through the key: status %d, Retry-After %q", resp.StatusCode,
			resp.Header.Get("Retry-After"))
	}

	// no user: refused by the gateway itself
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/v1/models", nil)
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("without X-User-Id: %v, %v", resp, err)
	}
	resp.Body.Close()

	// the upstream is down: 502, released
	before := balance()
	upstream.Close()
	if resp = post(`{"max_tokens": 10}`); resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("upstream down: status %d", resp.StatusCode)
	}
	if r := balance(); r.Balance != before.Balance || r.Held != 0 {
		t.Fatalf("after the upstream was down: %+v, before %+v", r, before)
	}
}

func mustDo(t *testing.T, c *ledger.Client, req ledger.Request) ledger.Result {
	t.Helper()
	r, err := c.Do(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", req.Op(), err)
	}
	return r
}
