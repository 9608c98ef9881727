package ledger

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where the ledger is and how to talk to it. Only Key is required.
type Config struct {
	// Addr is the ledger's host:port; default "127.0.0.1:7070". Endpoints, when not empty, replaces it.
	Addr string
	// Endpoints are several ledgers, host:port each, to connect to in this order: the members of a cluster (any
	// member takes connections and passes requests to its leader). Each connection is made to the first endpoint
	// that takes it. When a connection fails or drops, the next endpoint is dialled at once and every unanswered
	// request is sent there again with the same request id (the cluster answers a retry of an applied request with
	// its first result, marked Duplicate); ReconnectBackoff is waited, and doubled, only after every endpoint was
	// tried. Empty: Addr alone.
	Endpoints []string
	// Key is the API key sent in Hello (see ReadKey for reading it the way the ledger CLI does).
	Key string
	// TLS, when not nil, makes every connection TLS from the first byte (the ledger serves TLS with
	// `ledger serve --tls-cert --tls-key`). An empty ServerName is taken from the endpoint being dialled.
	TLS *tls.Config
	// Conns is how many connections the client keeps (default 1). Requests go to them in turn; each connection
	// pipelines its own.
	Conns int
	// Timeout is how long one attempt waits for its result before the very same request (same request id, so the
	// ledger cannot apply it twice) is sent again; default 2 s.
	Timeout time.Duration
	// Attempts is how many times a request is sent before it fails with ErrNoResult; default 3. Resends after a
	// reconnect do not count.
	Attempts int
	// DialTimeout bounds connecting, the TLS handshake and the Hello; default 5 s.
	DialTimeout time.Duration
	// ReconnectBackoff is the wait after a failed reconnect (after a failed round of every endpoint), doubling up
	// to 5 s; default 100 ms.
	ReconnectBackoff time.Duration
}

const maxBackoff = 5 * time.Second

func (c Config) withDefaults() (Config, error) {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:7070"
	}
	if len(c.Endpoints) == 0 {
		c.Endpoints = []string{c.Addr}
	}
	c.Endpoints = append([]string(nil), c.Endpoints...) // the caller's slice may change later
	for _, endpoint := range c.Endpoints {
		if _, _, err := net.SplitHostPort(endpoint); err != nil {
			return c, fmt.Errorf("ledger: endpoint %q is not host:port: %w", endpoint, err)
		}
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReconnectBackoff <= 0 {
		c.ReconnectBackoff = 100 * time.Millisecond
	}
	return c, nil
}

var (
	// ErrClosed is the error of a request sent on, or waiting in, a closed Client.
	ErrClosed = errors.New("ledger: client closed")
	// ErrNoResult is the error of a request that got no result after all its attempts (Config.Attempts, each
	// Config.Timeout long). It may have been applied: send it again with the same request id (Result.RequestID of
	// the failed call) to learn its result without applying it twice.
	ErrNoResult = errors.New("ledger: no result")
)

// Client is a pool of pipelined connections to the ledger: many requests in flight on each, their results matched
// by correlation id, writes from any number of goroutines coalesced by one writer goroutine per connection. A
// request that gets no result within Config.Timeout, or whose connection drops, is sent again unchanged (same
// request id: the ledger answers it with the original result, marked Duplicate, rather than applying it twice).
// Connections that drop are made again in the background, with backoff. Safe for concurrent use.
type Client struct {
	cfg    Config
	ids    *IDs
	hello  []byte
	conns  []*conn
	next   atomic.Uint32
	start  time.Time
	cancel context.CancelFunc
	ctx    context.Context
	role   Role
	closed sync.Once
	calls  sync.Pool
}

// Call is a request in flight, sent with Client.Go. Once it is done it is sent on Done, with either Result filled
// (Err nil, or a *RejectionError for a rejection) or Err saying why there is no result.
type Call struct {
	Request Request
	Result  Result
	Err     error
	Done    chan *Call

	snapshot    SnapshotReport
	requestID   ID
	corr        int64
	frame       [maxFrame]byte
	n           int
	attempts    int
	maxAttempts int
	deadline    time.Duration // since Client.start; 0 until the first sweep after the call was sent
}

// Dial connects every connection of the pool and authenticates it, and returns once all are ready. It fails when
// no endpoint can be reached within Config.DialTimeout (each), or the ledger refuses the key (errors.Is(err,
// ErrUnauthenticated)), or speaks only protocol version 1 (errors.Is(err, ErrUnsupportedVersion)). ctx bounds the
// dialling only.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	hello, err := encodeHello(cfg.Key)
	if err != nil {
		return nil, err
	}
	background, cancel := context.WithCancel(context.Background())
	c := &Client{cfg: cfg, ids: NewIDs(), hello: hello, start: time.Now(),
		ctx: background, cancel: cancel}
	c.calls.New = func() any { return &Call{Done: make(chan *Call, 1)} }
	for i := 0; i < cfg.Conns; i++ {
		cn := &conn{client: c, pending: newPending()}
		c.conns = append(c.conns, cn)
		role, err := cn.connect(ctx)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.role = role
	}
	go c.sweep()
	return c, nil
}

// Role is the role of the client's key: RoleGateway or RoleAdmin.
func (c *Client) Role() Role {
	return c.role
}

// IDs is the generator of the request ids the client makes; use it to make an id before sending, e.g. to log it.
func (c *Client) IDs() *IDs {
	return c.ids
}

// Do sends req and waits for its result, resending it unchanged after a timeout or a reconnect. An accepted request
// returns its Result and a nil error; a rejected one returns its Result and a *RejectionError (errors.Is(err,
// ledger.ErrInsufficientFunds) and so on, for every result code). Otherwise the error says why there is no result:
// ctx's end (errors.Is(err, context.DeadlineExceeded)), ErrNoResult, ErrClosed, a refused key; the returned Result
// then still carries RequestID and Op, so that the request can be sent again with the same id.
func (c *Client) Do(ctx context.Context, req Request) (Result, error) {
	if ctx != nil && ctx.Err() != nil {
		return Result{RequestID: req.id(), Op: req.Op()}, fmt.Errorf("ledger: %s: %w", req.Op(), ctx.Err())
	}
	call := c.calls.Get().(*Call)
	call.Request = req
	if !c.wait(ctx, call, c.send(call)) {
		return Result{RequestID: call.requestID, Op: req.Op()},
			fmt.Errorf("ledger: %s: %w", describe(req.Op(), call.requestID), ctx.Err())
	}
	result, err := call.Result, call.Err
	c.release(call)
	return result, err
}

// wait waits for call to be done, or for ctx to end; false when ctx ended first and the call was taken back from its
// connection (it will not be done then, and must not go back to the pool).
func (c *Client) wait(ctx context.Context, call *Call, cn *conn) bool {
	var done <-chan struct{}
	if ctx != nil {
		done = ctx.Done()
	}
	select {
	case <-call.Done:
	case <-done:
		if cn != nil && cn.abandon(call) {
			return false
		}
		<-call.Done // answered meanwhile
	}
	return true
}

// release clears a pooled call and puts it back.
func (c *Client) release(call *Call) {
	*call = Call{Done: call.Done}
	c.calls.Put(call)
}

// Go sends req and returns at once; the call is sent on done when it completes (see Call). done must be buffered;
// a nil done makes one. Results of a connection are delivered in turn by its reader, which waits while done is full:
// give done room for the calls you keep in flight. Each request is bounded by Config.Attempts × Config.Timeout.
func (c *Client) Go(req Request, done chan *Call) *Call {
	if done == nil {
		done = make(chan *Call, 1)
	} else if cap(done) == 0 {
		panic("ledger: Go needs a buffered done channel")
	}
	call := &Call{Request: req, Done: done}
	c.send(call)
	return call
}

// Send sends call.Request like Go, reusing call and its Done channel (which must be buffered) instead of making new
// ones: a caller that keeps a set of calls in flight and sends each again once it is done allocates nothing per
// request here. call must not be in flight; its Result and Err are cleared.
func (c *Client) Send(call *Call) {
	if cap(call.Done) == 0 {
		panic("ledger: Send needs a call with a buffered Done channel")
	}
	call.Result, call.Err, call.snapshot, call.maxAttempts = Result{}, nil, SnapshotReport{}, 0
	c.send(call)
}

// Snapshot asks the running ledger to write a snapshot now and waits until the file is durable (admin only). A
// refusal returns the report with its Code and a *RejectionError: UNAVAILABLE while another snapshot runs or when it
// failed, FORBIDDEN for a gateway key. It is not resent after a timeout (a second request would only be refused while
// the first runs): its single attempt may take Config.Timeout × Config.Attempts × 10.
func (c *Client) Snapshot(ctx context.Context) (SnapshotReport, error) {
	call := c.calls.Get().(*Call)
	call.Request = takeSnapshot{}
	call.maxAttempts = 1
	if !c.wait(ctx, call, c.send(call)) {
		return SnapshotReport{}, fmt.Errorf("ledger: SNAPSHOT: %w", ctx.Err())
	}
	report, err := call.snapshot, call.Err
	c.release(call)
	var rejected *RejectionError
	if errors.As(err, &rejected) {
		report.Code = rejected.Result.Code
	}
	return report, err
}

// InFlight is the number of requests sent and not yet answered, over every connection.
func (c *Client) InFlight() int {
	n := 0
	for _, cn := range c.conns {
		cn.mu.Lock()
		n += cn.pending.len()
		cn.mu.Unlock()
	}
	return n
}

// Close closes every connection; requests still waiting fail with ErrClosed.
func (c *Client) Close() error {
	c.closed.Do(func() {
		c.cancel()
		for _, cn := range c.conns {
			cn.close(ErrClosed)
		}
	})
	return nil
}

// send gives the call its id and a connection and sends it (or fails it at once).
func (c *Client) send(call *Call) *conn {
	call.requestID = call.Request.id()
	if call.requestID.IsZero() && call.Request.Op() != OpQuery && call.Request.Op() != OpSnapshot {
		call.requestID = c.ids.Next()
	}
	if call.maxAttempts == 0 {
		call.maxAttempts = c.cfg.Attempts
	}
	cn := c.pick()
	if err := cn.send(call); err != nil {
		call.fail(err)
		return nil
	}
	return cn
}

// pick returns the next connection in turn that is up, or the next one at all when none is (it sends once back).
func (c *Client) pick() *conn {
	n := uint32(len(c.conns))
	first := c.next.Add(1)
	for i := uint32(0); i < n; i++ {
		if cn := c.conns[(first+i)%n]; cn.up.Load() {
			return cn
		}
	}
	return c.conns[first%n]
}

// describe names a request in messages: its operation and, when it has one, its id.
func describe(op Op, id ID) string {
	if id.IsZero() {
		return op.String()
	}
	return op.String() + " " + id.String()
}

// now is the client's clock: monotonic, for deadlines.
func (c *Client) now() time.Duration {
	return time.Since(c.start)
}

// attemptTimeout is how long one attempt of the call may take: a snapshot gets the whole budget in its one attempt.
func (c *Client) attemptTimeout(call *Call) time.Duration {
	if call.Request.Op() == OpSnapshot {
		return c.cfg.Timeout * time.Duration(c.cfg.Attempts) * 10
	}
	return c.cfg.Timeout
}

// sweep resends what timed out (the same frame: same request id) and fails what ran out of attempts, a few times per
// Timeout. A request's deadline is set by the first sweep after it was sent (no clock read per request): it is
// resent between Timeout and Timeout plus two sweep intervals (a quarter of Timeout at most) after it was sent.
func (c *Client) sweep() {
	interval := c.cfg.Timeout / 8
	if interval > 25*time.Millisecond {
		interval = 25 * time.Millisecond
	}
	if interval < time.Millisecond {
		interval = time.Millisecond
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-ticker.C:
			for _, cn := range c.conns {
				cn.sweep(c.now())
			}
		}
	}
}

// fail completes a call without a result: Result carries only its request id and op, so it can be sent again.
func (call *Call) fail(err error) {
	call.Result = Result{RequestID: call.requestID, Op: call.Request.Op()}
	call.Err = err
	call.Done <- call
}
