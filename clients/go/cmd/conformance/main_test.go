package main

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotaledger/ledger/clients/go/ledgertest"
)

// useLedger points the runner's environment at a live ledger, with a base no other run uses; group ids are int32,
// so the base stays below 2^31 minus the scenarios' own ids.
func useLedger(t *testing.T, s *ledgertest.Server) {
	t.Setenv("LEDGER_HOST", "127.0.0.1")
	t.Setenv("LEDGER_PORT", strconv.Itoa(s.Port))
	t.Setenv("LEDGER_ADMIN_KEY_FILE", s.AdminKeyFile)
	t.Setenv("LEDGER_GATEWAY_KEY_FILE", s.GatewayKeyFile)
	t.Setenv("LEDGER_RUN_BASE", strconv.FormatInt(rand.New(rand.NewSource(time.Now().UnixNano())).Int63n(2_000)*
		1_000_000+1_000_000, 10))
}

func TestRunnerPassesScenariosAndReportsTheFirstDifference(t *testing.T) {
	s := ledgertest.Start(t, ledgertest.Options{})
	useLedger(t, s)
	var out bytes.Buffer
	code := run([]string{"../../testdata/conformance", "../../testdata/failing/go-fails-on-purpose.json"}, &out)
	want := "go go-auth-frames PASS\n" +
		"go go-holds-retries PASS\n" +
		"go go-fails-on-purpose FAIL 1: balance: expected 999, got 99; duplicate: expected true, got false\n"
	if code != 1 || out.String() != want {
		t.Fatalf("exit %d, printed:\n%s\nwant exit 1 and:\n%s", code, out.String(), want)
	}

	// the suite's own scenarios, when this tree has them
	suite := filepath.Join("..", "..", "..", "..", "conformance", "scenarios")
	if _, err := os.Stat(suite); err != nil {
		t.Logf("no %s: the suite's scenarios are not in this tree", suite)
		return
	}
	useLedger(t, s)
	out.Reset()
	if code := run([]string{suite}, &out); code != 0 {
		t.Fatalf("the suite: exit %d\n%s", code, out.String())
	}
	if lines := strings.Count(out.String(), " PASS\n"); lines == 0 {
		t.Fatalf("the suite printed no PASS line:\n%s", out.String())
	}
}

func TestRunnerRefusesWhatItDoesNotUnderstand(t *testing.T) {
	s := ledgertest.Start(t, ledgertest.Options{})
	useLedger(t, s)
	dir := t.TempDir()
	scenarios := map[string]string{
		"misspelt.json": `{"name": "misspelt", "steps": [
			{"op": "CREDIT", "requestId": "c", "userId": 1, "ammount": 5, "expect": {"code": "OK"}}]}`,
		"unchecked.json": `{"name": "unchecked", "steps": [
			{"op": "CREDIT", "requestId": "c", "userId": 1, "amount": 5, "expect": {"balanse": 5}}]}`,
		"unknown-op.json": `{"name": "unknown-op", "steps": [{"op": "TRANSFER", "expect": {"code": "OK"}}]}`,
		"broken.json":     `{"name": "broken", "steps": [`,
	}
	for name, content := range scenarios {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if code := run([]string{dir}, &out); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, prefix := range []string{"go broken FAIL -: ", "go misspelt FAIL 0: CREDIT: \"ammount\" is not a field",
		"go unchecked FAIL 0: expect: \"balanse\" is not a Result field", "go unknown-op FAIL 0: op \"TRANSFER\""} {
		if !strings.Contains(out.String(), prefix) {
			t.Errorf("no line starting %q in:\n%s", prefix, out.String())
		}
	}
}

func TestRunnerNeedsItsEnvironmentAndScenarios(t *testing.T) {
	for _, name := range []string{"LEDGER_HOST", "LEDGER_PORT", "LEDGER_ADMIN_KEY_FILE", "LEDGER_GATEWAY_KEY_FILE",
		"LEDGER_RUN_BASE"} {
		t.Setenv(name, "")
	}
	var out bytes.Buffer
	if code := run([]string{"../../testdata/conformance"}, &out); code != 2 || out.Len() != 0 {
		t.Fatalf("without its environment: exit %d, printed %q", code, out.String())
	}
}
