// Command kube-apiserver-local runs the real Kubernetes API server (k8s.io/kubernetes's
// cmd/kube-apiserver, linked in) on loopback, backed by an embedded single-member etcd, for
// Tollgate's control-plane test tier.
//
// It makes everything the API server needs under --data-dir on first start (a self-signed CA,
// a serving certificate for 127.0.0.1/localhost, an admin client certificate in
// system:masters, a service-account signing key) and reuses it on later starts; it writes a
// kubeconfig for kubectl, helm and the tests, and prints one line to stdout once /readyz
// answers ok:
//
//	READY kubeconfig=<dir>/kubeconfig url=https://127.0.0.1:<port> pid=<pid> elapsed=<seconds>s
//
// SIGTERM or SIGINT shuts the API server down gracefully, then etcd; the exit status is 0.
// (A signal before it is ready may end it with status 255: kube-apiserver's post-start hooks
// treat a cancelled start as fatal, as the real binary does.)
//
//	kube-apiserver-local --data-dir DIR [--port N] [--ready-timeout 2m] [-- extra kube-apiserver flags]
//
// No controller-manager, scheduler or kubelet runs: see README.md beside this file.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "kube-apiserver-local: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	start := time.Now()
	fs := flag.NewFlagSet("kube-apiserver-local", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for etcd's data, the certificates and the kubeconfig (required; created if missing)")
	port := fs.Int("port", 0, "secure port on 127.0.0.1 (0 picks a free one)")
	readyTimeout := fs.Duration("ready-timeout", 3*time.Minute, "give up when /readyz is not ok after this long")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kube-apiserver-local --data-dir DIR [--port N] [--ready-timeout D] [-- kube-apiserver flags...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *dataDir == "" {
		fs.Usage()
		return errors.New("--data-dir is required")
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	pki, err := ensurePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	securePort := *port
	if securePort == 0 {
		if securePort, err = freePort(); err != nil {
			return err
		}
	}
	serverURL := "https://127.0.0.1:" + strconv.Itoa(securePort)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, serverURL, pki); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	// The command installs the SIGTERM/SIGINT handler (only one may exist in a process); its
	// context is cancelled on the first signal, and everything here stops with it.
	cmd := app.NewAPIServerCommand()
	ctx := cmd.Context()

	etcd, etcdURL, err := startEtcd(ctx, filepath.Join(dir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer func() {
		etcd.Close()
		fmt.Fprintln(os.Stderr, "kube-apiserver-local: etcd stopped")
	}()

	args := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(securePort),
		"--cert-dir=" + pki.dir,
		"--tls-cert-file=" + pki.path(servingCert),
		"--tls-private-key-file=" + pki.path(servingKey),
		"--client-ca-file=" + pki.path(caCert),
		"--etcd-servers=" + etcdURL,
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.path(saPublicKey),
		"--service-account-signing-key-file=" + pki.path(saPrivateKey),
		"--service-cluster-ip-range=10.0.0.0/24",
		// The default (lease) reconciler would publish 127.0.0.1 as the `kubernetes` Service's
		// endpoint, which Endpoints validation rejects as loopback, every few seconds.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
	}
	args = append(args, fs.Args()...)
	cmd.SetArgs(args)

	apiDone := make(chan error, 1)
	go func() { apiDone <- cmd.Execute() }()

	readyCtx, cancelReady := context.WithTimeout(ctx, *readyTimeout)
	defer cancelReady()
	readyErr := make(chan error, 1)
	go func() { readyErr <- waitReady(readyCtx, serverURL, pki) }()

	select {
	case err := <-apiDone:
		if err == nil {
			err = errors.New("exited before it was ready")
		}
		return fmt.Errorf("kube-apiserver: %w", err)
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	case err := <-readyErr:
		if err != nil {
			if ctx.Err() != nil {
				// signalled while starting: let the API server wind down, then stop etcd
				<-apiDone
				return nil
			}
			return fmt.Errorf("not ready after %s: %w", *readyTimeout, err)
		}
	}
	fmt.Printf("READY kubeconfig=%s url=%s pid=%d elapsed=%.2fs\n",
		kubeconfig, serverURL, os.Getpid(), time.Since(start).Seconds())

	select {
	case err := <-apiDone:
		if ctx.Err() == nil {
			return fmt.Errorf("kube-apiserver exited: %v", err)
		}
		if err != nil {
			return fmt.Errorf("kube-apiserver shutdown: %w", err)
		}
		fmt.Fprintln(os.Stderr, "kube-apiserver-local: kube-apiserver stopped")
		return nil
	case err := <-etcd.Err():
		return fmt.Errorf("etcd: %w", err)
	}
}

// startEtcd starts a single-member etcd on two free loopback ports (client and peer) and
// waits until it serves. A port is free when picked but may be taken before etcd binds it
// (other processes on the machine pick ports the same way), so a bind refused as in use is
// tried again with new ports, a bounded number of times.
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	const attempts = 8
	for attempt := 1; ; attempt++ {
		e, clientURL, err := startEtcdOnce(ctx, dir)
		if err == nil || attempt == attempts || !addressInUse(err) {
			return e, clientURL, err
		}
		fmt.Fprintf(os.Stderr, "kube-apiserver-local: etcd: %v; trying other ports (%d of %d)\n", err, attempt+1, attempts)
	}
}

// addressInUse reports whether err is a listener's bind refused with EADDRINUSE (etcd's embed
// package does not always wrap the system error, so its text counts too).
func addressInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}

func startEtcdOnce(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, "", err
	}
	clientURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(clientPort)}
	peerURL := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(peerPort)}

	cfg := embed.NewConfig()
	cfg.Name = "tollgate-local"
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(time.Minute):
		e.Close()
		return nil, "", errors.New("not ready after 1m")
	case <-ctx.Done():
		e.Close()
		return nil, "", ctx.Err()
	}
}

// waitReady polls GET /readyz as the admin user until it answers 200 "ok".
func waitReady(ctx context.Context, serverURL string, pki *pkiFiles) error {
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.cert)
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      roots,
			Certificates: []tls.Certificate{pki.admin.tlsCert()},
			MinVersion:   tls.VersionTLS12,
		}},
	}
	last := errors.New("no answer yet")
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, serverURL+"/readyz", nil)
		if resp, err := client.Do(req); err != nil {
			last = err
		} else {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body[:n])) == "ok" {
				return nil
			}
			last = fmt.Errorf("/readyz: %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return last
		case <-tick.C:
		}
	}
}

func writeKubeconfig(path, serverURL string, pki *pkiFiles) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tollgate-local"] = &clientcmdapi.Cluster{
		Server:                   serverURL,
		CertificateAuthorityData: pki.ca.certPEM,
	}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: pki.admin.certPEM,
		ClientKeyData:         pki.admin.keyPEM,
	}
	cfg.Contexts["tollgate-local"] = &clientcmdapi.Context{
		Cluster:   "tollgate-local",
		AuthInfo:  "admin",
		Namespace: "default",
	}
	cfg.CurrentContext = "tollgate-local"
	tmp := path + ".tmp"
	if err := clientcmd.WriteToFile(*cfg, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
