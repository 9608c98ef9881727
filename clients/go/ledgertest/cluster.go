package ledgertest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// portsPerMember is how many consecutive UDP ports a cluster member uses from its base port (docs/cluster.md).
const portsPerMember = 5

// Cluster is a replicated ledger: members started with `ledger serve --cluster-members ... --cluster-member-id N`
// on loopback, sharing one admin and one gateway key. Any member takes connections.
type Cluster struct {
	Members    []*Server
	AdminKey   string
	GatewayKey string

	aeron string
}

// StartCluster starts a cluster of that many members and waits until one of them leads; it stops them when the
// test ends. The test is skipped when the ledger is not built.
func StartCluster(t testing.TB, members int) *Cluster {
	t.Helper()
	c, err := NewCluster(members)
	if errors.Is(err, ErrNotBuilt) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// NewCluster starts the members at once (each in its own data directory, with its own media driver directory) and
// returns once one of them leads; Close stops them and removes their directories.
func NewCluster(members int) (*Cluster, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	if !Built(root) {
		return nil, ErrNotBuilt
	}
	aeron, err := os.MkdirTemp("", "ledgertest-aeron")
	if err != nil {
		return nil, err
	}
	c := &Cluster{AdminKey: newKey(), GatewayKey: newKey(), aeron: aeron, Members: make([]*Server, members)}
	base, err := freeUDPPorts(members * portsPerMember)
	if err != nil {
		c.Close()
		return nil, err
	}
	spec := make([]string, members)
	for i := range spec {
		spec[i] = "localhost:" + strconv.Itoa(base+i*portsPerMember)
	}
	errs := make([]error, members)
	var started sync.WaitGroup
	for i := 0; i < members; i++ {
		started.Add(1)
		go func(i int) {
			defer started.Done()
			c.Members[i], errs[i] = newServer(Options{Args: []string{"--cluster-members", strings.Join(spec, ","),
				"--cluster-member-id", strconv.Itoa(i), "--aeron-dir", filepath.Join(aeron, strconv.Itoa(i))}},
				c.AdminKey, c.GatewayKey)
		}(i)
	}
	started.Wait()
	for _, err := range errs {
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := c.Leader(time.Minute); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Leader returns the index of the member that says it leads (its /health), waiting up to timeout for one.
func (c *Cluster) Leader(timeout time.Duration) (int, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for i, s := range c.Members {
			if s == nil || s.cmd == nil {
				continue
			}
			response, err := client.Get("http://" + s.MetricsAddr + "/health")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(response.Body)
			response.Body.Close()
			if strings.Contains(string(body), `"role":"leader"`) {
				return i, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, fmt.Errorf("ledgertest: no cluster member leads within %s", timeout)
}

// Close stops every member and removes their directories.
func (c *Cluster) Close() {
	for _, s := range c.Members {
		if s != nil {
			s.Close()
		}
	}
	_ = os.RemoveAll(c.aeron)
}

// freeUDPPorts returns a base port with count free UDP ports on loopback from it.
func freeUDPPorts(count int) (int, error) {
	for attempt := 0; attempt < 100; attempt++ {
		probe, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		base := probe.LocalAddr().(*net.UDPAddr).Port
		probe.Close()
		if base+count > 65535 {
			continue
		}
		free := true
		for p := base; p < base+count && free; p++ {
			socket, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				continue
			}
			socket.Close()
		}
		if free {
			return base, nil
		}
	}
	return 0, errors.New("ledgertest: no free range of UDP ports")
}
