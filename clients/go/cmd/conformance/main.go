// Command conformance runs the conformance suite's scenarios (conformance/README.md) with the Go client against a
// running ledger, and prints one line per scenario: "go <name> PASS" or "go <name> FAIL <step>: <what differed>".
//
//	LEDGER_HOST=127.0.0.1 LEDGER_PORT=7070 LEDGER_ADMIN_KEY_FILE=data/admin.key \
//	LEDGER_GATEWAY_KEY_FILE=gateway.key LEDGER_RUN_BASE=2000000 go run ./cmd/conformance ../../conformance/scenarios
//
// It exits 0 when every scenario passed, 1 when one did not, 2 when it cannot run (no scenarios, a variable missing).
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	ledger "github.com/quotaledger/ledger/clients/go"
)

const client = "go"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// run runs the scenarios of args, printing a line per scenario to out, and returns the exit code.
func run(args []string, out io.Writer) int {
	env, err := environment()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: conformance SCENARIO.json|DIR ... (with LEDGER_HOST, LEDGER_PORT, "+
			"LEDGER_ADMIN_KEY_FILE, LEDGER_GATEWAY_KEY_FILE, LEDGER_RUN_BASE set)")
		return 2
	}
	files, err := scenarioFiles(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		return 2
	}
	failed := false
	for _, file := range files {
		name, step, what := runFile(env, file)
		if what == "" {
			fmt.Fprintf(out, "%s %s PASS\n", client, name)
			continue
		}
		failed = true
		fmt.Fprintf(out, "%s %s FAIL %s: %s\n", client, name, step, oneLine(what))
	}
	if failed {
		return 1
	}
	return 0
}

// env is what the harness gives a runner.
type env struct {
	addr       string
	adminKey   string
	gatewayKey string
	base       int64
}

func environment() (env, error) {
	var e env
	get := func(name string) (string, error) {
		v := os.Getenv(name)
		if v == "" {
			return "", fmt.Errorf("%s is not set", name)
		}
		return v, nil
	}
	host, err := get("LEDGER_HOST")
	if err != nil {
		return e, err
	}
	port, err := get("LEDGER_PORT")
	if err != nil {
		return e, err
	}
	e.addr = net.JoinHostPort(host, port)
	for name, key := range map[string]*string{"LEDGER_ADMIN_KEY_FILE": &e.adminKey,
		"LEDGER_GATEWAY_KEY_FILE": &e.gatewayKey} {
		file, err := get(name)
		if err != nil {
			return e, err
		}
		if *key, err = ledger.ReadKeyFile(file); err != nil {
			return e, fmt.Errorf("%s: %w", name, err)
		}
	}
	base, err := get("LEDGER_RUN_BASE")
	if err != nil {
		return e, err
	}
	if e.base, err = strconv.ParseInt(base, 10, 64); err != nil || e.base <= 0 {
		return e, fmt.Errorf("LEDGER_RUN_BASE %q is not a positive int64", base)
	}
	if os.Getenv("LEDGER_TLS") != "" {
		return e, fmt.Errorf("LEDGER_TLS is set: this runner speaks plain TCP (TLS is tested by the client's tests)")
	}
	return e, nil
}

// scenarioFiles lists the files given and the *.json files of the directories given, in name order.
func scenarioFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(arg, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no scenario files in %s", strings.Join(args, " "))
	}
	return files, nil
}

// runFile runs one scenario file: its name, and the failing step with what differed ("" when it passed).
func runFile(e env, file string) (name, step, what string) {
	s, err := parseScenario(file)
	if err != nil {
		name = strings.TrimSuffix(filepath.Base(file), ".json")
		if s != nil && s.Name != "" {
			name = s.Name
		}
		return name, "-", err.Error()
	}
	r := newRunner(e, s)
	defer r.close()
	index, what := r.run()
	return s.Name, strconv.Itoa(index), what
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
