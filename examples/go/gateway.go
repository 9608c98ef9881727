package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

// Gateway is an HTTP reverse proxy that pays for every request through the ledger: it reserves an estimate before
// forwarding, settles what the upstream reports it used once the answer is back, and releases the hold when the
// upstream fails. The caller is named by the X-User-Id header (in a real gateway: the user behind the API key that
// authenticated the request) and may name a virtual key with X-Virtual-Key (the end user's key: its budget, rate
// limits and allowed services apply).
type Gateway struct {
	Ledger    *ledger.Client
	Upstream  *url.URL
	ServiceID int32         // the ledger's service id of this upstream
	Estimate  int64         // what to hold when the request does not say (max_tokens)
	HoldTTL   time.Duration // how long a hold lives if the gateway never settles it (a crash)
	Log       *log.Logger

	proxy *httputil.ReverseProxy
}

// maxBody bounds the request and response bodies the gateway reads (for max_tokens and usage).
const maxBody = 10 << 20

// hold is the ledger hold of one request, carried from ServeHTTP to the proxy's callbacks in the context.
type hold struct {
	id       ledger.ID
	estimate int64
	closed   bool // settled or released
}

type holdKey struct{}

// NewGateway wires the reverse proxy.
func NewGateway(g Gateway) *Gateway {
	gw := &g
	if gw.Log == nil {
		gw.Log = log.Default()
	}
	gw.proxy = httputil.NewSingleHostReverseProxy(gw.Upstream)
	gw.proxy.ModifyResponse = gw.settle
	gw.proxy.ErrorHandler = gw.upstreamFailed
	return gw
}

// ServeHTTP reserves the estimate, then forwards; a refusal of the ledger answers at once, without the upstream.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, err := strconv.ParseInt(r.Header.Get("X-User-Id"), 10, 64)
	if err != nil || user <= 0 {
		http.Error(w, "X-User-Id: a positive user id is required", http.StatusBadRequest)
		return
	}
	var key int64
	if v := r.Header.Get("X-Virtual-Key"); v != "" {
		if key, err = strconv.ParseInt(v, 10, 64); err != nil || key <= 0 {
			http.Error(w, "X-Virtual-Key: a positive virtual key id", http.StatusBadRequest)
			return
		}
	}
	estimate, err := g.estimate(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}

	reserved, err := g.Ledger.Do(r.Context(), ledger.Reserve{UserID: user, ServiceID: g.ServiceID,
		Amount: estimate, TTL: g.HoldTTL, VirtualKeyID: key})
	if err != nil {
		g.refuse(w, err)
		return
	}
	ctx := context.WithValue(r.Context(), holdKey{}, &hold{id: reserved.RequestID, estimate: estimate})
	g.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// estimate is the request's max_tokens when its JSON body has one, else the configured estimate.
func (g *Gateway) estimate(r *http.Request) (int64, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return g.Estimate, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return 0, fmt.Errorf("reading the request: %v", err)
	}
	if len(body) > maxBody {
		return 0, fmt.Errorf("a request body over %d bytes", maxBody)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var fields struct {
		MaxTokens int64 `json:"max_tokens"`
	}
	if json.Unmarshal(body, &fields) == nil && fields.MaxTokens > 0 {
		return fields.MaxTokens, nil
	}
	return g.Estimate, nil
}

// refuse answers a request the ledger would not pay for, with the status a client of an API gateway expects.
func (g *Gateway) refuse(w http.ResponseWriter, err error) {
	var rejected *ledger.RejectionError
	if !errors.As(err, &rejected) {
		g.Log.Printf("gateway: the ledger did not answer: %v", err)
		http.Error(w, "billing unavailable, retry later", http.StatusServiceUnavailable)
		return
	}
	switch {
	case errors.Is(err, ledger.ErrInsufficientFunds), errors.Is(err, ledger.ErrUnknownAccount):
		http.Error(w, "insufficient balance", http.StatusPaymentRequired)
	case errors.Is(err, ledger.ErrRateLimited), errors.Is(err, ledger.ErrSpendWindowExceeded),
		errors.Is(err, ledger.ErrConcurrencyLimited), errors.Is(err, ledger.ErrVirtualKeyBudgetExceeded):
		if after := rejected.Result.RetryAfter(); after > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((after+time.Second-1)/time.Second), 10))
		}
		http.Error(w, "limit reached: "+rejected.Result.Code.String(), http.StatusTooManyRequests)
	case errors.Is(err, ledger.ErrFrozen), errors.Is(err, ledger.ErrUnknownVirtualKey),
		errors.Is(err, ledger.ErrVirtualKeyRevoked), errors.Is(err, ledger.ErrVirtualKeyExpired),
		errors.Is(err, ledger.ErrServiceNotAllowed):
		http.Error(w, "not allowed: "+rejected.Result.Code.String(), http.StatusForbidden)
	default:
		g.Log.Printf("gateway: the ledger refused a reserve: %v", err)
		http.Error(w, "billing error: "+rejected.Result.Code.String(), http.StatusServiceUnavailable)
	}
}

// settle runs when the upstream's answer arrives: a success is charged what it used, a failure costs nothing.
func (g *Gateway) settle(resp *http.Response) error {
	h := resp.Request.Context().Value(holdKey{}).(*hold)
	if resp.StatusCode >= 300 {
		g.release(h, fmt.Sprintf("upstream answered %d", resp.StatusCode))
		return nil
	}
	used, err := usage(resp)
	if err != nil {
		g.release(h, err.Error())
		return err // the proxy answers 502 through upstreamFailed, which finds the hold released
	}
	if used < 0 {
		used = h.estimate // no usage reported: charge what was held
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	settled, err := g.Ledger.Do(ctx, ledger.Settle{HoldID: h.id, Actual: used})
	if err != nil {
		// the client resent it with the same id already; a hold that is never settled expires after HoldTTL
		g.Log.Printf("gateway: settling hold %s for %d: %v", h.id, used, err)
		return nil
	}
	h.closed = true
	resp.Header.Set("X-Ledger-Charged", strconv.FormatInt(settled.FromFree+settled.FromBalance, 10))
	resp.Header.Set("X-Ledger-Balance", strconv.FormatInt(settled.Balance, 10))
	return nil
}

// usage reads what the upstream reports it used: the X-Usage-Tokens header, else usage.total_tokens of a JSON body
// (OpenAI's shape); -1 when it reports none.
func usage(resp *http.Response) (int64, error) {
	if v := resp.Header.Get("X-Usage-Tokens"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("upstream X-Usage-Tokens %q", v)
		}
		return n, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()
	if err != nil {
		return 0, fmt.Errorf("reading the upstream's answer: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var answer struct {
		Usage *struct {
			TotalTokens int64 `json:"total_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.Usage == nil {
		return -1, nil
	}
	return answer.Usage.TotalTokens, nil
}

// upstreamFailed runs when the upstream cannot be reached or its answer cannot be read: the hold goes back.
func (g *Gateway) upstreamFailed(w http.ResponseWriter, r *http.Request, err error) {
	if h, ok := r.Context().Value(holdKey{}).(*hold); ok {
		g.release(h, err.Error())
	}
	w.WriteHeader(http.StatusBadGateway)
}

// release gives the hold back (once): the user pays nothing for a request that failed.
func (g *Gateway) release(h *hold, why string) {
	if h.closed {
		return
	}
	h.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.Ledger.Do(ctx, ledger.Release{HoldID: h.id}); err != nil {
		g.Log.Printf("gateway: releasing hold %s (%s): %v", h.id, why, err)
	}
}
