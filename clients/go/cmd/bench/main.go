// Command bench measures the Go client against a running ledger: pipelined deducts per second over 1 and over 4
// connections (--window requests in flight on each), and the latency (p50, p99) of a single blocking call.
//
//	go run ./cmd/bench --addr 127.0.0.1:7070 --data ../../data --duration 10s
//	go run ./cmd/bench --json ...
//
// It needs an admin key (it credits its users first), read like the ledger CLI: --key-file, else LEDGER_KEY, else
// DIR/admin.key of --data. Exit 0 when it measured, 1 when the ledger failed it, 2 for a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	addr      string
	keyFile   string
	data      string
	conns     []int
	window    int
	users     int
	firstUser int64
	warmup    time.Duration
	duration  time.Duration
	calls     int
	json      bool
	cpuProf   string
	memProf   string
}

// report is what --json prints.
type report struct {
	Addr       string       `json:"addr"`
	Window     int          `json:"window"`
	Users      int          `json:"users"`
	DurationS  float64      `json:"durationSeconds"`
	Pipelined  []throughput `json:"pipelined"`
	Blocking   latency      `json:"blocking"`
	GoVersion  string       `json:"goVersion"`
	Rejections int64        `json:"rejections"`
}

type throughput struct {
	Connections      int     `json:"connections"`
	InFlight         int     `json:"inFlight"`
	Deducts          int64   `json:"deducts"`
	DeductsPerSecond float64 `json:"deductsPerSecond"`
}

type latency struct {
	Calls      int     `json:"calls"`
	P50Micros  float64 `json:"p50Micros"`
	P99Micros  float64 `json:"p99Micros"`
	MeanMicros float64 `json:"meanMicros"`
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:7070", "the ledger's host:port")
	fs.StringVar(&o.keyFile, "key-file", "", "file holding an admin key (else LEDGER_KEY, else DIR/admin.key)")
	fs.StringVar(&o.data, "data", "data", "data directory whose admin.key to use when no other key is given")
	conns := fs.String("conns", "1,4", "connection counts to measure, comma-separated")
	fs.IntVar(&o.window, "window", 128, "requests in flight per connection")
	fs.IntVar(&o.users, "users", 1000, "users the deducts spread over (credited first)")
	fs.Int64Var(&o.firstUser, "first-user", 1_000_000_000, "the first user id")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured run before each measurement")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each measurement runs")
	fs.IntVar(&o.calls, "calls", 20000, "blocking calls for the latency figures")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of text")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the pipelined measurements to this file")
	fs.StringVar(&o.memProf, "memprofile", "", "write an allocation profile (after the measurements) to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 64 {
			return o, fmt.Errorf("--conns: %q is not 1 to 64", s)
		}
		o.conns = append(o.conns, n)
	}
	if o.window < 1 || o.window > 16384 || o.users < 1 || o.firstUser < 1 || o.duration <= 0 || o.warmup < 0 ||
		o.calls < 1 {
		return o, errors.New("--window 1 to 16384, --users, --first-user, --duration, --calls positive, " +
			"--warmup not negative")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "bench:", err)
		}
		return 2
	}
	key, err := ledger.ReadKey(o.keyFile, o.data)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	stop, err := profile(o)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	r, err := measure(o, key, stderr)
	if perr := stop(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
		return 0
	}
	fmt.Fprintf(stdout, "Go client against %s, %d users, %s per measurement\n", r.Addr, r.Users, o.duration)
	for _, t := range r.Pipelined {
		fmt.Fprintf(stdout, "pipelined deducts, %d connection(s) x %d in flight: %.0f/s\n", t.Connections,
			o.window, t.DeductsPerSecond)
	}
	fmt.Fprintf(stdout, "blocking deduct, one at a time (%d calls): p50 %.0f us, p99 %.0f us, mean %.0f us\n",
		r.Blocking.Calls, r.Blocking.P50Micros, r.Blocking.P99Micros, r.Blocking.MeanMicros)
	if r.Rejections > 0 {
		fmt.Fprintf(stdout, "%d deducts were rejected (counted in the figures)\n", r.Rejections)
	}
	return 0
}

// profile starts the CPU profile (when asked for) and returns what stops it and writes the allocation profile. The
// allocation profile counts every allocation of the run (MemProfileRate 1).
func profile(o options) (func() error, error) {
	var cpu *os.File
	if o.cpuProf != "" {
		f, err := os.Create(o.cpuProf)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		cpu = f
	}
	if o.memProf != "" {
		runtime.MemProfileRate = 1
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return err
			}
		}
		if o.memProf == "" {
			return nil
		}
		f, err := os.Create(o.memProf)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("allocs").WriteTo(f, 0)
	}, nil
}

func measure(o options, key string, stderr io.Writer) (report, error) {
	r := report{Addr: o.addr, Window: o.window, Users: o.users, DurationS: o.duration.Seconds(),
		GoVersion: runtime.Version()}
	if err := credit(o, key); err != nil {
		return r, err
	}
	for _, n := range o.conns {
		fmt.Fprintf(stderr, "bench: %d connection(s) x %d in flight ...\n", n, o.window)
		t, rejected, err := pipelined(o, key, n)
		if err != nil {
			return r, err
		}
		r.Pipelined = append(r.Pipelined, t)
		r.Rejections += rejected
	}
	fmt.Fprintf(stderr, "bench: %d blocking calls ...\n", o.calls)
	l, rejected, err := blocking(o, key)
	if err != nil {
		return r, err
	}
	r.Blocking = l
	r.Rejections += rejected
	return r, nil
}

func dial(o options, key string, conns int) (*ledger.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ledger.Dial(ctx, ledger.Config{Addr: o.addr, Key: key, Conns: conns, Timeout: 10 * time.Second})
}

// credit gives every user enough for any run, pipelined.
func credit(o options, key string) error {
	c, err := dial(o, key, 1)
	if err != nil {
		return err
	}
	defer c.Close()
	if c.Role() != ledger.RoleAdmin {
		return errors.New("the key's role is " + c.Role().String() + ": bench credits its users, it needs an admin key")
	}
	done := make(chan *ledger.Call, o.users)
	for i := 0; i < o.users; i++ {
		c.Go(ledger.Credit{UserID: o.firstUser + int64(i), Amount: 1 << 50}, done)
	}
	for i := 0; i < o.users; i++ {
		if call := <-done; call.Err != nil {
			return fmt.Errorf("crediting user %d: %w", call.Request.(ledger.Credit).UserID, call.Err)
		}
	}
	return nil
}

// pipelined measures a closed loop the way the Java load generator does (scripts/bench load --mode closed): conns
// connections, each a Client of its own (as each of Java's is a LedgerClient), each keeping exactly window deducts in
// flight, every result sending the next deduct on the same connection (reusing its call: nothing is allocated per
// request), to users drawn uniformly. It counts the results answered within the measured seconds, after the warm-up.
func pipelined(o options, key string, conns int) (throughput, int64, error) {
	t := throughput{Connections: conns, InFlight: conns * o.window}
	loops := make([]loop, conns)
	for i := range loops {
		c, err := dial(o, key, 1)
		if err != nil {
			return t, 0, err
		}
		defer c.Close()
		loops[i] = loop{client: c, users: userSequence(o, int64(i))}
	}
	measureStart := time.Now().Add(o.warmup)
	measureEnd := measureStart.Add(o.duration)
	var wg sync.WaitGroup
	for i := range loops {
		wg.Add(1)
		go func(l *loop) {
			defer wg.Done()
			l.run(o, measureStart, measureEnd)
		}(&loops[i])
	}
	wg.Wait()
	var rejected int64
	for _, l := range loops {
		if l.err != nil {
			return t, rejected, l.err
		}
		t.Deducts += l.count
		rejected += l.rejected
	}
	t.DeductsPerSecond = float64(t.Deducts) / o.duration.Seconds()
	return t, rejected, nil
}

// clockEvery is how many results a loop handles between readings of the clock: a reading costs more than handling a
// result, and 16 results take microseconds, nothing against the measured seconds.
const clockEvery = 16

// loop is the closed loop of one connection.
type loop struct {
	client   *ledger.Client
	users    []int64
	count    int64 // results answered in the measured seconds
	rejected int64 // of them, rejections
	err      error
}

func (l *loop) run(o options, measureStart, measureEnd time.Time) {
	done := make(chan *ledger.Call, o.window)
	next := 0
	// each call keeps its own Deduct, changed in place for its next request
	send := func(call *ledger.Call) {
		d := call.Request.(*ledger.Deduct)
		*d = ledger.Deduct{UserID: l.users[next], ServiceID: 1, Amount: 1}
		if next++; next == len(l.users) {
			next = 0
		}
		l.client.Send(call)
	}
	for i := 0; i < o.window; i++ {
		send(&ledger.Call{Request: &ledger.Deduct{}, Done: done})
	}
	measuring := false
	for i := 0; ; i++ {
		call := <-done
		if i%clockEvery == 0 {
			now := time.Now()
			if !now.Before(measureEnd) {
				return
			}
			measuring = !now.Before(measureStart)
		}
		if call.Err != nil && !rejection(call.Err) {
			l.err = call.Err
			return
		}
		if measuring {
			l.count++
			if call.Err != nil {
				l.rejected++
			}
		}
		send(call)
	}
}

// rejection reports whether err is the ledger's refusal (a result) rather than no result.
func rejection(err error) bool {
	var refusal *ledger.RejectionError
	return errors.As(err, &refusal)
}

// userSequence is the order in which a connection charges the users: drawn uniformly (like the Java load
// generator's default), a different sequence for each connection.
func userSequence(o options, seed int64) []int64 {
	random := rand.New(rand.NewSource(42 + seed))
	users := make([]int64, 1<<16)
	for i := range users {
		users[i] = o.firstUser + random.Int63n(int64(o.users))
	}
	return users
}

// blocking times one Do after another.
func blocking(o options, key string) (latency, int64, error) {
	l := latency{Calls: o.calls}
	c, err := dial(o, key, 1)
	if err != nil {
		return l, 0, err
	}
	defer c.Close()
	var rejected int64
	times := make([]time.Duration, 0, o.calls)
	warm := o.calls / 10
	for i := 0; i < o.calls+warm; i++ {
		start := time.Now()
		_, err := c.Do(context.Background(), ledger.Deduct{UserID: o.firstUser + int64(i%o.users), ServiceID: 1,
			Amount: 1})
		elapsed := time.Since(start)
		var refusal *ledger.RejectionError
		if err != nil && !errors.As(err, &refusal) {
			return l, rejected, err
		}
		if i < warm {
			continue
		}
		if refusal != nil {
			rejected++
		}
		times = append(times, elapsed)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	micros := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	l.P50Micros = micros(times[len(times)*50/100])
	l.P99Micros = micros(times[len(times)*99/100])
	l.MeanMicros = micros(sum / time.Duration(len(times)))
	return l, rejected, nil
}
