package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/quotaledger/ledger/clients/go/ledgertest"
)

// A run of about two seconds: the figures are there and plausible, not measured (the machine is shared).
func TestBenchPrintsItsFigures(t *testing.T) {
	s := ledgertest.Start(t, ledgertest.Options{})
	var out, errs bytes.Buffer
	code := run([]string{"--addr", s.Addr, "--key-file", s.AdminKeyFile, "--conns", "1,4", "--window", "16",
		"--users", "10", "--warmup", "0s", "--duration", "500ms", "--calls", "200", "--json"}, &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if len(r.Pipelined) != 2 || r.Pipelined[0].Connections != 1 || r.Pipelined[1].Connections != 4 ||
		r.Pipelined[1].InFlight != 64 || r.Rejections != 0 {
		t.Fatalf("report %+v", r)
	}
	for _, p := range r.Pipelined {
		if p.Deducts <= 0 || p.DeductsPerSecond <= 0 {
			t.Fatalf("no deducts measured: %+v", p)
		}
	}
	if r.Blocking.Calls != 200 || r.Blocking.P50Micros <= 0 || r.Blocking.P99Micros < r.Blocking.P50Micros {
		t.Fatalf("latency %+v", r.Blocking)
	}

	out.Reset()
	code = run([]string{"--addr", s.Addr, "--key-file", s.AdminKeyFile, "--conns", "1", "--window", "4",
		"--users", "2", "--warmup", "0s", "--duration", "200ms", "--calls", "50"}, &out, &errs)
	if code != 0 || !strings.Contains(out.String(), "pipelined deducts, 1 connection(s) x 4 in flight: ") ||
		!strings.Contains(out.String(), "blocking deduct, one at a time (50 calls): p50 ") {
		t.Fatalf("exit %d, text:\n%s", code, out.String())
	}
}

func TestBenchRefusesBadOptionsAndGatewayKeys(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"--conns", "0"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), "--conns") {
		t.Fatalf("--conns 0: exit %d, %s", code, errs.String())
	}
	s := ledgertest.Start(t, ledgertest.Options{})
	errs.Reset()
	code := run([]string{"--addr", s.Addr, "--key-file", s.GatewayKeyFile, "--duration", "100ms"}, &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "needs an admin key") {
		t.Fatalf("gateway key: exit %d, %s", code, errs.String())
	}
}
