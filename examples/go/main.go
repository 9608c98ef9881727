// Command gateway is an example API gateway in front of an LLM-style upstream: every request reserves an estimate
// in the ledger, goes to the upstream, and is settled with the usage the upstream reports (released when it fails).
//
//	scripts/ledger serve                                  # one shell: the ledger, its admin key in ./data
//	(cd examples/go && go run . --data ../../data)       # another: the gateway on :8080 and a fake upstream
//
// See README.md for the requests to try and how a real gateway wires this in.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address the gateway listens on")
	upstream := fs.String("upstream", "", "the upstream's base URL (default: a fake upstream started in this process)")
	fakeOnly := fs.String("fake-upstream", "", "only serve the fake upstream on this address")
	addr := fs.String("ledger", "127.0.0.1:7070", "the ledger's host:port")
	keyFile := fs.String("key-file", "", "file holding the ledger API key (else LEDGER_KEY, else DIR/admin.key)")
	data := fs.String("data", "data", "the ledger's data directory, whose admin.key to use when no other key is given")
	service := fs.Int("service", 1, "the ledger's service id of the upstream")
	estimate := fs.Int64("estimate", 1000, "what to hold for a request without max_tokens")
	ttl := fs.Duration("ttl", 2*time.Minute, "how long a hold lives if the gateway dies before settling it")
	conns := fs.Int("conns", 2, "connections to the ledger")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *estimate <= 0 || *ttl < time.Millisecond || *conns < 1 {
		fmt.Fprintln(os.Stderr, "gateway: --estimate and --conns must be positive, --ttl at least 1ms, no arguments")
		return 2
	}
	if *fakeOnly != "" {
		fmt.Printf("fake upstream on http://%s\n", *fakeOnly)
		return serve(*fakeOnly, fakeUpstream())
	}

	target := *upstream
	if target == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "gateway:", err)
			return 1
		}
		go func() { _ = http.Serve(ln, fakeUpstream()) }()
		target = "http://" + ln.Addr().String()
	}
	upstreamURL, err := url.Parse(target)
	if err != nil || upstreamURL.Scheme == "" || upstreamURL.Host == "" {
		fmt.Fprintf(os.Stderr, "gateway: --upstream %q is not a URL like http://host:port\n", target)
		return 2
	}
	key, err := ledger.ReadKey(*keyFile, *data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	client, err := ledger.Dial(ctx, ledger.Config{Addr: *addr, Key: key, Conns: *conns})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v (is `scripts/ledger serve` running?)\n", err)
		return 1
	}
	defer client.Close()

	gw := NewGateway(Gateway{Ledger: client, Upstream: upstreamURL, ServiceID: int32(*service), Estimate: *estimate,
		HoldTTL: *ttl})
	fmt.Printf("gateway on http://%s -> upstream %s, ledger %s (%s key)\n", *listen, upstreamURL, *addr,
		client.Role())
	fmt.Printf("try: curl -s -H 'X-User-Id: 42' -d '{\"max_tokens\": 200}' http://%s/v1/chat/completions -D -\n",
		*listen)
	return serve(*listen, gw)
}

func serve(addr string, h http.Handler) int {
	server := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := server.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Printf("gateway: %v", err)
		return 1
	}
	return 0
}
