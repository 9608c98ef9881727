package ledger

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxAnswer bounds the length prefix of a frame from the server: its answers are far smaller, so a larger one means
// the stream is not this protocol (or out of step) and the connection is dropped.
const maxAnswer = 4096

// conn is one connection of the pool and the requests in flight on it. A request is encoded once, into its Call,
// and its frame copied into out, which the writer goroutine swaps for an empty buffer and writes with one Write:
// whatever callers sent while the previous Write ran goes out together. The reader goroutine matches answers to
// calls by correlation id. When the connection drops, run makes a new one (to the next endpoint) and sends every
// pending frame again.
type conn struct {
	client *Client
	corr   atomic.Int64
	up     atomic.Bool

	mu       sync.Mutex
	pending  pending
	out      []byte        // frames waiting for the writer; only while up
	wake     chan struct{} // tells the current writer that out has frames
	gen      uint64        // which connection out and wake belong to
	nc       net.Conn
	endpoint int // which of Config.Endpoints the connection goes to; only connect and run's goroutine use it
	closed   bool
	closeErr error
}

// connect dials and authenticates the first connection, trying the endpoints in order until one takes it, then
// leaves it to run.
func (cn *conn) connect(ctx context.Context) (Role, error) {
	endpoints := cn.client.cfg.Endpoints
	var err error
	for cn.endpoint = 0; cn.endpoint < len(endpoints); cn.endpoint++ {
		var nc net.Conn
		var br *bufio.Reader
		var role Role
		if nc, br, role, err = cn.dial(ctx); err == nil {
			go cn.run(nc, br)
			return role, nil
		}
		if refused(err) || ctx.Err() != nil {
			return RoleNone, err
		}
	}
	if len(endpoints) > 1 {
		return RoleNone, fmt.Errorf("ledger: cannot connect to any of %d endpoints, the last: %w", len(endpoints), err)
	}
	return RoleNone, err
}

// refused reports whether err is the ledger's answer to the Hello (a refused key, an older ledger): no other
// endpoint or later attempt answers differently, since a cluster's members share their keys and version.
func refused(err error) bool {
	var rejection *RejectionError
	return errors.As(err, &rejection) || errors.Is(err, ErrUnsupportedVersion)
}

// dial connects (TLS included) to the current endpoint and exchanges Hello and HelloResult, within
// Config.DialTimeout.
func (cn *conn) dial(ctx context.Context) (net.Conn, *bufio.Reader, Role, error) {
	cfg := &cn.client.cfg
	addr := cfg.Endpoints[cn.endpoint]
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	dialer := &net.Dialer{}
	if cfg.TLS != nil {
		// an empty ServerName is taken from addr: the name of the endpoint in use
		nc, err = (&tls.Dialer{NetDialer: dialer, Config: cfg.TLS}).DialContext(ctx, "tcp", addr)
	} else {
		nc, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, nil, RoleNone, fmt.Errorf("ledger: cannot connect to %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	_ = nc.SetDeadline(deadline)
	br := bufio.NewReaderSize(nc, 64<<10)
	role, err := cn.hello(nc, br, addr)
	if err != nil {
		nc.Close()
		return nil, nil, role, err
	}
	_ = nc.SetDeadline(time.Time{})
	return nc, br, role, nil
}

// hello authenticates a new connection with the client's key, speaking protocol version 2.
func (cn *conn) hello(nc net.Conn, br *bufio.Reader, addr string) (Role, error) {
	if _, err := nc.Write(cn.client.hello); err != nil {
		return RoleNone, fmt.Errorf("ledger: %s: sending Hello: %w", addr, err)
	}
	var d decoder
	for {
		msg, err := readFrame(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the server closed the connection (too many connections?)")
				if cn.client.cfg.TLS == nil {
					err = errors.New("the server closed the connection (does it serve TLS? too many connections?)")
				}
			}
			return RoleNone, fmt.Errorf("ledger: %s: no answer to Hello: %w", addr, err)
		}
		kind := d.wrap(msg)
		switch kind {
		case answerHello:
			code := Code(d.hello.CodeRaw())
			if code != CodeOK {
				return RoleNone, &RejectionError{Result: Result{Op: OpHello, Code: code}}
			}
			return Role(d.hello.RoleRaw()), nil
		case answerResult:
			var r Result
			d.decodeResult(&r)
			if r.Code == CodeUnsupportedVersion {
				return RoleNone, fmt.Errorf("ledger: %s does not speak protocol version 2 (an older ledger): %w",
					addr, ErrUnsupportedVersion)
			}
			if r.Code != CodeOK {
				r.Op = OpHello
				return RoleNone, &RejectionError{Result: r}
			}
		}
		if err := discardFrame(br, msg); err != nil {
			return RoleNone, err
		}
	}
}

// readFrame returns the next frame's message (after its length prefix), still in br's buffer: call discardFrame
// once done with it.
func readFrame(br *bufio.Reader) ([]byte, error) {
	prefix, err := br.Peek(lengthPrefix)
	if err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(prefix))
	if n < headerLength || n > maxAnswer {
		return nil, fmt.Errorf("ledger: a frame of %d bytes from the server: not this protocol", n)
	}
	frame, err := br.Peek(lengthPrefix + n)
	if err != nil {
		return nil, err
	}
	return frame[lengthPrefix:], nil
}

func discardFrame(br *bufio.Reader, msg []byte) error {
	_, err := br.Discard(lengthPrefix + len(msg))
	return err
}

// run serves a connection until it drops, then makes a new one, until the client closes or the key is refused.
func (cn *conn) run(nc net.Conn, br *bufio.Reader) {
	for nc != nil {
		cn.serve(nc, br)
		nc, br = cn.reconnect()
	}
}

// serve resends what is pending (oldest first), starts the writer and reads answers until the connection fails.
func (cn *conn) serve(nc net.Conn, br *bufio.Reader) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		nc.Close()
		return
	}
	cn.gen++
	gen := cn.gen
	cn.nc = nc
	wake := make(chan struct{}, 1)
	cn.wake = wake
	cn.out = cn.out[:0]
	for _, call := range cn.pending.oldestFirst(nil) {
		cn.out = append(cn.out, call.frame[:call.n]...)
	}
	if len(cn.out) > 0 {
		wake <- struct{}{}
	}
	cn.up.Store(true)
	cn.mu.Unlock()

	stop := make(chan struct{})
	go cn.write(nc, gen, wake, stop)
	cn.read(br)
	close(stop)
	nc.Close()

	cn.mu.Lock()
	if cn.gen == gen {
		cn.up.Store(false)
		cn.nc = nil
		cn.wake = nil
		cn.out = cn.out[:0] // every frame in it is pending: sent again on the next connection
	}
	cn.mu.Unlock()
}

// write sends what callers put in out, one Write per wake-up, until stop or a write error (which closes the
// connection, so that the reader sees it too).
func (cn *conn) write(nc net.Conn, gen uint64, wake <-chan struct{}, stop <-chan struct{}) {
	var buf []byte
	for {
		select {
		case <-stop:
			return
		case <-wake:
		}
		cn.mu.Lock()
		if cn.gen != gen {
			cn.mu.Unlock()
			return
		}
		buf, cn.out = cn.out, buf[:0]
		cn.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		if _, err := nc.Write(buf); err != nil {
			nc.Close()
			return
		}
	}
}

// read hands each answer to its call until the connection fails. It matches every whole frame that one read brought
// (taking the lock once for them all) before it delivers them.
func (cn *conn) read(br *bufio.Reader) {
	var d decoder
	var ready []*Call
	for {
		msg, err := readFrame(br)
		if err != nil {
			return
		}
		cn.mu.Lock()
		for msg != nil && err == nil {
			if call := cn.answer(&d, msg); call != nil {
				ready = append(ready, call)
			}
			if err = discardFrame(br, msg); err == nil {
				msg, err = bufferedFrame(br)
			}
		}
		cn.mu.Unlock()
		for i, call := range ready {
			call.Done <- call
			ready[i] = nil
		}
		ready = ready[:0]
		if err != nil {
			return
		}
	}
}

// bufferedFrame returns the next frame's message like readFrame when br holds all of it already, else nil: it
// never waits for the connection.
func bufferedFrame(br *bufio.Reader) ([]byte, error) {
	if br.Buffered() < lengthPrefix {
		return nil, nil
	}
	prefix, _ := br.Peek(lengthPrefix)
	if n := int(binary.LittleEndian.Uint32(prefix)); n <= maxAnswer && br.Buffered() < lengthPrefix+n {
		return nil, nil
	}
	return readFrame(br)
}

// answer fills in the pending call that msg answers and returns it, removed from the pending calls; nil when msg
// answers no call in flight (answered already: the second answer of a resent request). Under mu.
func (cn *conn) answer(d *decoder, msg []byte) *Call {
	switch d.wrap(msg) {
	case answerResult:
		call := cn.pending.take(d.result.CorrelationId())
		if call == nil {
			return nil
		}
		d.decodeResult(&call.Result)
		call.Result.RequestID = call.requestID
		if call.Result.Code != CodeOK {
			call.Err = &RejectionError{Result: call.Result}
		}
		return call
	case answerSnapshot:
		call := cn.pending.take(d.snapshot.CorrelationId())
		if call == nil {
			return nil
		}
		d.decodeSnapshot(&call.snapshot)
		call.Result = Result{Op: OpSnapshot, Code: call.snapshot.Code}
		if call.snapshot.Code != CodeOK {
			call.Err = &RejectionError{Result: call.Result}
		}
		return call
	}
	return nil
}

// reconnect dials again until it gets a connection, and returns nil when the client closes or the ledger refuses
// the key, failing every pending call then. It goes through the endpoints at once, from the one after the endpoint
// whose connection dropped, and waits the backoff (doubling) after each round of them all: with one endpoint, the
// first attempt is at once and each further one after the backoff.
func (cn *conn) reconnect() (net.Conn, *bufio.Reader) {
	c := cn.client
	endpoints := len(c.cfg.Endpoints)
	backoff := c.cfg.ReconnectBackoff
	for tried := 0; ; tried++ {
		if tried > 0 && tried%endpoints == 0 {
			select {
			case <-c.ctx.Done():
				return nil, nil
			case <-time.After(backoff):
			}
			if backoff *= 2; backoff > maxBackoff {
				backoff = maxBackoff
			}
		}
		cn.mu.Lock()
		closed := cn.closed
		cn.mu.Unlock()
		if closed {
			return nil, nil
		}
		cn.endpoint = (cn.endpoint + 1) % endpoints
		nc, br, _, err := cn.dial(c.ctx)
		if err == nil {
			return nc, br
		}
		if refused(err) {
			// a refused key does not get better by retrying: whatever waits fails with the reason
			cn.close(err)
			return nil, nil
		}
		if c.ctx.Err() != nil {
			return nil, nil
		}
	}
}

// send encodes the call with a new correlation id, adds it to the pending calls and, while connected, queues its
// frame for the writer.
func (cn *conn) send(call *Call) error {
	corr := cn.corr.Add(1)
	n, err := call.Request.encode(call.frame[:], corr, call.requestID)
	if err != nil {
		return err
	}
	call.corr = corr
	call.n = n
	call.attempts = 1
	call.deadline = 0 // the next sweep sets it
	cn.mu.Lock()
	if cn.closed {
		err := cn.closeErr
		cn.mu.Unlock()
		return err
	}
	cn.pending.add(call)
	cn.queue(call)
	cn.mu.Unlock()
	return nil
}

// queue appends the call's frame to out and wakes the writer; while disconnected it waits in pending instead.
// Under mu.
func (cn *conn) queue(call *Call) {
	if cn.wake == nil {
		return
	}
	cn.out = append(cn.out, call.frame[:call.n]...)
	select {
	case cn.wake <- struct{}{}:
	default: // the writer is awake already and takes this frame with the others
	}
}

// abandon removes a call its caller stopped waiting for; false when it was answered (or failed) meanwhile.
func (cn *conn) abandon(call *Call) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.pending.get(call.corr) != call {
		return false
	}
	cn.pending.take(call.corr)
	return true
}

// sweep resends the calls whose attempt timed out and fails those out of attempts.
func (cn *conn) sweep(now time.Duration) {
	var failed []*Call
	cn.mu.Lock()
	cn.pending.each(func(call *Call) {
		if call.deadline == 0 {
			call.deadline = now + cn.client.attemptTimeout(call)
			return
		}
		if now < call.deadline {
			return
		}
		if call.attempts >= call.maxAttempts {
			cn.pending.take(call.corr)
			failed = append(failed, call)
			return
		}
		call.attempts++
		call.deadline = now + cn.client.attemptTimeout(call)
		cn.queue(call)
	})
	cn.mu.Unlock()
	for _, call := range failed {
		call.fail(fmt.Errorf("%w for %s after %d attempts", ErrNoResult, describe(call.Request.Op(), call.requestID),
			call.attempts))
	}
}

// close stops the connection for good and fails every pending call with err.
func (cn *conn) close(err error) {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.closeErr = err
	cn.up.Store(false)
	if cn.nc != nil {
		cn.nc.Close()
	}
	failed := cn.pending.oldestFirst(nil)
	cn.pending = newPending()
	cn.mu.Unlock()
	for _, call := range failed {
		call.fail(err)
	}
}
