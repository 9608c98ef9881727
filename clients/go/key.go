package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyEnv is the environment variable the ledger CLI (and ReadKey) takes the API key from.
const KeyEnv = "LEDGER_KEY"

// AdminKeyFile is the file in a data directory where `ledger serve` saves the admin key it generates.
const AdminKeyFile = "admin.key"

// ReadKey finds the API key the way the ledger CLI does: keyFile when it is not empty (like --key-file), else the
// LEDGER_KEY environment variable when it is not blank, else the admin key in dataDir (like --data; "" is "data",
// the CLI's default).
func ReadKey(keyFile, dataDir string) (string, error) {
	if keyFile != "" {
		return ReadKeyFile(keyFile)
	}
	if key := strings.TrimSpace(os.Getenv(KeyEnv)); key != "" {
		return key, nil
	}
	if dataDir == "" {
		dataDir = "data"
	}
	file := filepath.Join(dataDir, AdminKeyFile)
	key, err := ReadKeyFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("ledger: no key: no key file, no %s, and no %s (start `ledger serve --data %s` once, "+
			"or give a key)", KeyEnv, file, dataDir)
	}
	return key, err
}

// ReadKeyFile returns the first non-blank line of a key file, trimmed; keep the file readable by you only (0600).
func ReadKeyFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("ledger: cannot read the key: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if key := strings.TrimSpace(line); key != "" {
			return key, nil
		}
	}
	return "", fmt.Errorf("ledger: %s holds no key", path)
}
