// Package ledgertest starts a live ledger for tests: `scripts/ledger serve` of this repository on a free port, with
// a fresh data directory, an admin key and a gateway key. A test that needs one calls Start (StartCluster: the members
// of a replicated ledger); it is skipped, with a message saying how to build it, when the ledger's jar is not built.
package ledgertest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Options change how the ledger is started.
type Options struct {
	// TLSCert and TLSKey, PEM files (a certificate chain and a PKCS#8 key), make it serve TLS.
	TLSCert, TLSKey string
	// Args are more `ledger serve` options, e.g. "--max-in-flight", "64".
	Args []string
}

// Server is a running ledger.
type Server struct {
	Addr           string // host:port of the protocol
	Port           int
	MetricsAddr    string // host:port of /metrics and /health
	Dir            string // the data directory
	AdminKey       string
	GatewayKey     string
	AdminKeyFile   string // Dir/admin.key, as `ledger serve` saves it
	GatewayKeyFile string

	root   string
	base   string
	opts   Options
	cmd    *exec.Cmd
	output *syncBuffer
	exited chan struct{}
}

// startTimeout bounds the start; scripts/ledger first rebuilds the jar when the sources are newer.
const startTimeout = 3 * time.Minute

var serving = regexp.MustCompile(`ledger serving (\S+):(\d+) \(metrics http://([^/\s]+)/`)

// ErrNotBuilt is New's error when the ledger's jar is not built: Start skips the test then.
var ErrNotBuilt = errors.New("ledgertest: the ledger is not built: build it with " +
	"`mvn -q -B -pl ledger-server -am package -Dmaven.test.skip=true` or run `scripts/ledger --help` once")

// Start starts `scripts/ledger serve` on a free port with keys of both roles, and stops it when the test ends. The
// test is skipped when the ledger is not built.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(opts)
	if errors.Is(err, ErrNotBuilt) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts `scripts/ledger serve` on a free port, in a new temporary data directory, with keys of both roles;
// Close stops it and removes the directory. LEDGER_JAVA_OPTS (default -Xmx256m here) passes JVM options.
func New(opts Options) (*Server, error) {
	return newServer(opts, newKey(), newKey())
}

// newServer starts a ledger whose keys file holds these keys.
func newServer(opts Options, adminKey, gatewayKey string) (*Server, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	if !Built(root) {
		return nil, ErrNotBuilt
	}
	base, err := os.MkdirTemp("", "ledgertest")
	if err != nil {
		return nil, err
	}
	s := &Server{root: root, opts: opts, base: base, Dir: filepath.Join(base, "data")}
	s.AdminKey, s.GatewayKey = adminKey, gatewayKey
	s.AdminKeyFile = filepath.Join(s.Dir, "admin.key")
	s.GatewayKeyFile = filepath.Join(base, "gateway.key")
	if err := s.writeKeys(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.start(0); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Root returns the repository's root: the nearest directory above the working directory with scripts/ledger.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "ledger")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("ledgertest: no scripts/ledger above the working directory")
		}
		dir = parent
	}
}

// Built reports whether the ledger's jar is built in the repository at root (scripts/ledger's or Maven's name), or
// LEDGER_CLASSPATH names the classes to run (how the Maven build runs these tests: `mvn test` packages no jar).
func Built(root string) bool {
	if os.Getenv("LEDGER_CLASSPATH") != "" {
		return true
	}
	for _, name := range []string{"ledger.jar", "ledger-build.jar"} {
		if _, err := os.Stat(filepath.Join(root, "ledger-server", "target", name)); err == nil {
			return true
		}
	}
	return false
}

// Restart stops the ledger and starts it again on the same port and data directory (its journal is recovered).
func (s *Server) Restart() error {
	s.Stop()
	return s.start(s.Port)
}

// Close stops the ledger and removes its data directory.
func (s *Server) Close() {
	s.Stop()
	_ = os.RemoveAll(s.base)
}

// Stop stops the ledger (SIGTERM: it closes its connections and drains what it accepted), and kills it after 15 s.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Kill kills the ledger (SIGKILL: a crash, nothing drained or closed).
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Output is what the ledger printed so far, stdout and stderr.
func (s *Server) Output() string {
	return s.output.String()
}

func (s *Server) start(port int) error {
	args := []string{"serve", "--data", s.Dir, "--port", strconv.Itoa(port), "--metrics-port", "0",
		"--no-projector", "--dedupe-window", "65536"}
	if s.opts.TLSCert != "" {
		args = append(args, "--tls-cert", s.opts.TLSCert, "--tls-key", s.opts.TLSKey)
	}
	args = append(args, s.opts.Args...)
	cmd := s.command(args)
	cmd.Dir = s.root
	cmd.Env = os.Environ()
	if os.Getenv("LEDGER_JAVA_OPTS") == "" {
		cmd.Env = append(cmd.Env, "LEDGER_JAVA_OPTS=-Xmx256m")
	}
	s.output = &syncBuffer{}
	cmd.Stderr = s.output
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ledgertest: cannot start scripts/ledger: %w", err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	found := make(chan []string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			s.output.Write(append(lines.Bytes(), '\n'))
			if m := serving.FindStringSubmatch(lines.Text()); m != nil {
				found <- m
			}
		}
		_, _ = io.Copy(s.output, stdout)
		_ = cmd.Wait()
		close(s.exited)
	}()
	select {
	case m := <-found:
		s.Addr = m[1] + ":" + m[2]
		s.MetricsAddr = m[3]
		s.Port, _ = strconv.Atoi(m[2])
		return nil
	case <-s.exited:
		s.cmd = nil
		return fmt.Errorf("ledgertest: ledger serve exited: %s\n%s", cmd.ProcessState, s.output)
	case <-time.After(startTimeout):
		s.Stop()
		return fmt.Errorf("ledgertest: ledger serve did not start within %s:\n%s", startTimeout, s.output)
	}
}

// writeKeys writes the keys file as docs/protocol.md describes it ("<role> <sha256> [name]"), the admin key where
// serve would save its own, and the gateway key next to the data directory. Serve generates no key then.
func (s *Server) writeKeys() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	keys := fmt.Sprintf("admin %s test-admin\ngateway %s test-gateway\n", hash(s.AdminKey), hash(s.GatewayKey))
	for file, content := range map[string]string{
		filepath.Join(s.Dir, "keys"): keys,
		s.AdminKeyFile:               s.AdminKey + "\n",
		s.GatewayKeyFile:             s.GatewayKey + "\n",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// newKey makes a key like `ledger keys add`: "qlk_" and 256 random bits in base64url.
func newKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "qlk_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// syncBuffer collects the ledger's output from two goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// command runs scripts/ledger, or, when LEDGER_CLASSPATH is set, the CLI's main class from those classes with
// LEDGER_JAVA (default: java on the PATH) and the project's JVM flags (scripts/jvm.options).
func (s *Server) command(args []string) *exec.Cmd {
	classpath := os.Getenv("LEDGER_CLASSPATH")
	if classpath == "" {
		return exec.Command(filepath.Join(s.root, "scripts", "ledger"), args...)
	}
	java := os.Getenv("LEDGER_JAVA")
	if java == "" {
		java = "java"
	}
	heap := os.Getenv("LEDGER_JAVA_OPTS")
	if heap == "" {
		heap = "-Xmx256m"
	}
	jvm := append([]string{"@" + filepath.Join(s.root, "scripts", "jvm.options")}, strings.Fields(heap)...)
	jvm = append(jvm, "-cp", classpath, "io.quotaledger.cli.LedgerCli")
	return exec.Command(java, append(jvm, args...)...)
}
