package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lattice-federation/lattice/internal/fsutil"
)

// Files of a member's API credentials directory.
const (
	CAFile          = "ca.crt"
	caKeyFile       = "ca.key"
	ServingCertFile = "serving.crt"
	servingKeyFile  = "serving.key"
	TokenFile       = "token"
)

// Credentials are a standalone API server's TLS material and client token.
type Credentials struct {
	CA          []byte // PEM, the CA clients trust
	ServingCert []byte // PEM chain: serving certificate
	ServingKey  []byte // PEM
	Token       string // bearer token of the member's administrator
}

// defaultSANs are always in the serving certificate.
var defaultSANs = []string{"localhost", "127.0.0.1", "::1"}

const (
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 365 * 24 * time.Hour
	// renewBefore: a serving certificate this close to expiry is reissued.
	renewBefore = 30 * 24 * time.Hour
)

// EnsureCredentials loads the credentials in dir, creating what is missing:
// a CA (kept, so kubeconfigs stay valid across restarts), a serving
// certificate for the default names plus sans (reissued when a name is
// missing or it nears expiry) and a random token. Keys and the token are
// written 0600.
func EnsureCredentials(dir string, sans []string) (Credentials, error) {
	var c Credentials
	for _, s := range sans {
		if s == "" || len(s) > 253 || strings.ContainsAny(s, " /,") {
			return c, fmt.Errorf("invalid API server name %q: want a DNS name or an IP address", s)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, fmt.Errorf("api credentials: %w", err)
	}
	caCert, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return c, err
	}
	c.CA = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	names := append(slices.Clone(defaultSANs), sans...)
	if c.ServingCert, c.ServingKey, err = loadServing(dir, names); err != nil {
		if c.ServingCert, c.ServingKey, err = issueServing(dir, caCert, caKey, names); err != nil {
			return c, err
		}
	}
	if c.Token, err = loadOrCreateToken(filepath.Join(dir, TokenFile)); err != nil {
		return c, err
	}
	return c, nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return k, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func readPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, []byte, error) {
	cp, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	kp, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	cb, _ := pem.Decode(cp)
	kb, _ := pem.Decode(kp)
	if cb == nil || kb == nil {
		return nil, nil, nil, nil, fmt.Errorf("%s or %s is not PEM", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return cert, key, cp, kp, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile)
	cert, key, _, _, err := readPair(certPath, keyPath)
	if err == nil {
		return cert, key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("api CA: %w", err)
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("api CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "lattice-api-ca", Organization: []string{"Lattice"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caValidity),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("api CA: %w", err)
	}
	if err := fsutil.WriteFile(keyPath, keyPEM, 0o600, false); err != nil {
		return nil, nil, fmt.Errorf("api CA key: %w", err)
	}
	if err := fsutil.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644, false); err != nil {
		return nil, nil, fmt.Errorf("api CA: %w", err)
	}
	cert, err = x509.ParseCertificate(der)
	return cert, key, err
}

// loadServing returns the stored serving pair if it covers names and is
// not near expiry.
func loadServing(dir string, names []string) ([]byte, []byte, error) {
	cert, _, cp, kp, err := readPair(filepath.Join(dir, ServingCertFile), filepath.Join(dir, servingKeyFile))
	if err != nil {
		return nil, nil, err
	}
	if time.Until(cert.NotAfter) < renewBefore {
		return nil, nil, errors.New("serving certificate near expiry")
	}
	for _, n := range names {
		if cert.VerifyHostname(n) != nil {
			return nil, nil, fmt.Errorf("serving certificate does not cover %s", n)
		}
	}
	return cp, kp, nil
}

func issueServing(dir string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, names []string) ([]byte, []byte, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("api serving key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "lattice-api", Organization: []string{"Lattice"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(servingValidity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("api serving certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := fsutil.WriteFile(filepath.Join(dir, servingKeyFile), keyPEM, 0o600, false); err != nil {
		return nil, nil, err
	}
	if err := fsutil.WriteFile(filepath.Join(dir, ServingCertFile), certPEM, 0o644, false); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// tokenBytes is the token's entropy.
const tokenBytes = 32

func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) < 32 || strings.ContainsAny(t, " \t\r\n") {
			return "", fmt.Errorf("api token %s is malformed: delete it to generate a new one", path)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("api token: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	t := hex.EncodeToString(raw)
	if err := fsutil.WriteFile(path, []byte(t+"\n"), 0o600, false); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	return t, nil
}
