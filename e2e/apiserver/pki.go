package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// File names under <data-dir>/pki.
const (
	caCert       = "ca.crt"
	caKey        = "ca.key"
	servingCert  = "apiserver.crt"
	servingKey   = "apiserver.key"
	adminCert    = "admin.crt"
	adminKey     = "admin.key"
	saPrivateKey = "sa.key"
	saPublicKey  = "sa.pub"
)

// The certificates are made for a test tier: valid for ten years so that a kept data
// directory does not expire under a long-lived checkout.
const validity = 10 * 365 * 24 * time.Hour

type keyPair struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

func (k *keyPair) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{k.cert.Raw}, PrivateKey: k.key, Leaf: k.cert}
}

type pkiFiles struct {
	dir   string
	ca    *keyPair
	admin *keyPair
}

func (p *pkiFiles) path(name string) string { return filepath.Join(p.dir, name) }

// ensurePKI loads the PKI under dir, or makes it when ca.crt is missing:
//   - a self-signed CA (also the client CA: the API server trusts client certificates it signed);
//   - a serving certificate for 127.0.0.1, ::1, localhost and the in-cluster names;
//   - an admin client certificate, CN=tollgate-admin, O=system:masters;
//   - an ECDSA key pair that signs and verifies service-account tokens.
func ensurePKI(dir string) (*pkiFiles, error) {
	p := &pkiFiles{dir: dir}
	if _, err := os.Stat(p.path(caCert)); err == nil {
		var err error
		if p.ca, err = loadKeyPair(p.path(caCert), p.path(caKey)); err != nil {
			return nil, err
		}
		if p.admin, err = loadKeyPair(p.path(adminCert), p.path(adminKey)); err != nil {
			return nil, err
		}
		for _, name := range []string{servingCert, servingKey, saPrivateKey, saPublicKey} {
			if _, err := os.Stat(p.path(name)); err != nil {
				return nil, err
			}
		}
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}

	var err error
	now := time.Now().Add(-time.Hour) // tolerate a little clock skew
	p.ca, err = newKeyPair(&x509.Certificate{
		Subject:               pkix.Name{CommonName: "tollgate-local-ca"},
		NotBefore:             now,
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil)
	if err != nil {
		return nil, err
	}
	serving, err := newKeyPair(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now,
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
		// 10.0.0.1: the `kubernetes` Service's ClusterIP in --service-cluster-ip-range.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP("10.0.0.1")},
	}, p.ca)
	if err != nil {
		return nil, err
	}
	p.admin, err = newKeyPair(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "tollgate-admin", Organization: []string{"system:masters"}},
		NotBefore:   now,
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, p.ca)
	if err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saKeyPEM, err := privateKeyPEM(saKey)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}

	// ca.crt last: its presence marks a complete directory.
	files := []struct {
		name string
		data []byte
	}{
		{caKey, p.ca.keyPEM},
		{servingCert, serving.certPEM},
		{servingKey, serving.keyPEM},
		{adminCert, p.admin.certPEM},
		{adminKey, p.admin.keyPEM},
		{saPrivateKey, saKeyPEM},
		{saPublicKey, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})},
		{caCert, p.ca.certPEM},
	}
	for _, f := range files {
		if err := os.WriteFile(p.path(f.name), f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newKeyPair makes a P-256 key and a certificate from tmpl, signed by parent (self-signed
// when parent is nil).
func newKeyPair(tmpl *x509.Certificate, parent *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	signerCert, signerKey := tmpl, key
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := privateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  keyPEM,
	}, nil
}

func privateKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func loadKeyPair(certPath, keyPath string) (*keyPair, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New(keyPath + ": not an ECDSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key, certPEM: certPEM, keyPEM: keyPEM}, nil
}
