package ledger_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	ledger "github.com/quotaledger/ledger/clients/go"
	"github.com/quotaledger/ledger/clients/go/ledgertest"
)

// selfSigned writes a certificate for 127.0.0.1 and localhost, and its PKCS#8 key, as the PEM files that
// `ledger serve --tls-cert --tls-key` takes, and returns them with a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "ledger"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile = filepath.Join(dir, "server.crt")
	keyFile = filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func TestTLSFromTheFirstByte(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	s := ledgertest.Start(t, ledgertest.Options{TLSCert: certFile, TLSKey: keyFile})

	c := dial(t, ledger.Config{Addr: s.Addr, Key: s.AdminKey, TLS: &tls.Config{RootCAs: roots}, Conns: 2})
	u := user()
	do(t, c, ledger.Credit{UserID: u, Amount: 50})
	if r := do(t, c, ledger.Deduct{UserID: u, ServiceID: 1, Amount: 20}); r.Balance != 30 {
		t.Fatalf("deduct over TLS: %+v", r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := ledger.Dial(ctx, ledger.Config{Addr: s.Addr, Key: s.AdminKey, TLS: &tls.Config{}})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("a certificate nobody vouches for: %v", err)
	}
	_, err = ledger.Dial(ctx, ledger.Config{Addr: s.Addr, Key: s.AdminKey, DialTimeout: 5 * time.Second})
	if err == nil {
		t.Fatal("plain TCP to a TLS ledger: connected")
	}
	t.Logf("plain TCP to a TLS ledger: %v", err)
}
