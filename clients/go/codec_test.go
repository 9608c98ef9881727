package ledger_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCodecsMatchTheSchema regenerates the codecs from the schema with generate.sh (SBE's Go generator) and fails
// when the checked-in package codec differs: run clients/go/generate.sh and commit its output with the schema change.
func TestCodecsMatchTheSchema(t *testing.T) {
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("no java to run SBE's generator")
	}
	out := t.TempDir()
	cmd := exec.Command("./generate.sh", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if exit, ok := err.(*exec.ExitError); ok && exit.ExitCode() == 2 {
			t.Skipf("cannot run SBE's generator: %s", stderr.String())
		}
		t.Fatalf("generate.sh: %v\n%s", err, stderr.String())
	}
	generated := files(t, filepath.Join(out, "codec"))
	checkedIn := files(t, "codec")
	for name, want := range generated {
		got, ok := checkedIn[name]
		if !ok {
			t.Errorf("codec/%s is missing: the schema has changed, run clients/go/generate.sh", name)
		} else if !bytes.Equal(got, want) {
			t.Errorf("codec/%s differs from what the schema generates: run clients/go/generate.sh", name)
		}
	}
	for name := range checkedIn {
		if _, ok := generated[name]; !ok {
			t.Errorf("codec/%s is not generated from the schema any more: run clients/go/generate.sh", name)
		}
	}
}

func files(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	contents := map[string][]byte{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		contents[e.Name()] = data
	}
	return contents
}
