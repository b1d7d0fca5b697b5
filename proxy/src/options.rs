//! What `serve` needs to know: listen addresses, TLS files, trusted proxies, the config-channel
//! token, and the limits of every read.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tollgate_core::config_channel::ConfigToken;

pub use tollgate_core::address::{AddressPolicy, Cidr, CidrError, Mode, parse_cidrs};

/// Everything `serve` needs. `None` addresses disable a listener.
#[derive(Clone, Debug)]
pub struct ProxyOptions {
    pub http_addr: Option<SocketAddr>,
    pub https_addr: Option<SocketAddr>,
    pub admin_addr: Option<SocketAddr>,
    /// A listener of its own for `/healthz`, `/readyz` and `/metrics`; the admin port then
    /// serves only the config channel. `None`: the admin port serves them all.
    pub metrics_addr: Option<SocketAddr>,
    /// PEM certificate chain and key of the admin port: with them it speaks only TLS (and picks
    /// up new files when they change, as a renewed Secret's are).
    pub config_tls: Option<(PathBuf, PathBuf)>,
    /// PEM files of the HTTPS certificate chain and key; a self-signed certificate when absent.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// A directory of certificate and key pairs served by SNI (`tls.crt` and `tls.key` in each
    /// subdirectory, or `NAME.crt` and `NAME.key`); the names are each certificate's DNS names.
    pub tls_sni_dir: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for `https` backends (the system's bundle when absent).
    pub upstream_ca: Option<PathBuf>,
    /// Peers whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Bearer token of `POST /config`; `None` disables pushes.
    pub config_token: Option<ConfigToken>,
    /// The file `config_token` was read from: a push presenting another token makes the proxy
    /// read it again (at most once a second), so a rotated token needs no restart.
    pub config_token_file: Option<PathBuf>,
    /// Largest snapshot accepted by `POST /config`.
    pub max_config_bytes: usize,
    /// Largest request head (request line and headers) accepted; larger gets 431.
    pub max_header_bytes: usize,
    /// Time a client has to send its whole request head.
    pub header_read_timeout: Duration,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub grace_period: Duration,
    /// Time between a shutdown signal and the listeners closing: `/readyz` already answers 503
    /// and new connections are still served, so load balancers stop sending before the proxy
    /// stops accepting (closing a listener resets connections still in its accept queue).
    pub drain_delay: Duration,
    /// Serve plain HTTP/1 requests on the inline fast path (the server's `h1`); hyper still serves
    /// HTTP/2 and every request the fast path hands over. `false`: hyper serves everything.
    pub http1_fast_path: bool,
    /// Worker threads serving traffic (each with its own listeners and upstream pools).
    pub workers: usize,
    /// Which addresses backends may resolve to (`tollgate_core::address`), judged at every
    /// upstream connect on the resolved address. The proxy adds its own listeners when it
    /// binds, so they are refused whatever the lists say.
    pub backend_policy: AddressPolicy,
    /// Longest wait for the next chunk of a body the gateway reads itself (token endpoint, a
    /// token in a form body); the whole body gets four times this. Past it: 408.
    pub body_timeout: Duration,
    /// Bytes all such bodies may hold at once; a read beyond it gets 503.
    pub body_budget_bytes: usize,
    /// Such bodies being read at once; one more gets 503.
    pub max_body_reads: usize,
    /// Client connections open at once (all listeners together); more are closed at once.
    pub max_connections: usize,
    /// HTTP/2 streams at once per connection.
    pub h2_max_streams: u32,
    /// One access log line per request on stdout, in the format of `--log-format`.
    pub access_log: bool,
    /// Count requests per consumer too (`tollgate_consumer_requests_total`; at most 100
    /// consumers get series of their own, the rest share `other`).
    pub per_consumer_metrics: bool,
}

/// Sizes of the client-secret verification pool, its queue and its cache of successes.
#[derive(Clone, Copy, Debug)]
pub struct SecretCheckLimits {
    /// Verifications running at once (default: half the cores, at least one, so a flood of
    /// wrong secrets leaves most of the CPU to the threads serving traffic).
    pub workers: usize,
    /// Verifications waiting for a worker before new ones are refused.
    pub max_waiting: usize,
    /// Entries per cache generation (the cache holds at most twice this).
    pub cache_generation: usize,
}

impl Default for SecretCheckLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers: (cores / 2).max(1),
            max_waiting: 256 * cores,
            cache_generation: 16 * 1024,
        }
    }
}

pub const DEFAULT_HTTP_ADDR: &str = "[::]:8000";
/// nginx's `client_body_timeout` is 60 s between reads; a token request is a few hundred bytes.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 15;
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// A token request arrives in one or two packets: a thousand reads in progress at once means
/// slow clients, not load.
pub const DEFAULT_MAX_BODY_READS: usize = 1024;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// nginx's `http2_max_concurrent_streams` and Envoy's recommended edge setting.
pub const DEFAULT_H2_MAX_STREAMS: u32 = 100;
pub const DEFAULT_HTTPS_ADDR: &str = "[::]:8443";
pub const DEFAULT_ADMIN_ADDR: &str = "[::]:8100";
/// `tollgate-proxy`'s health and metrics listener.
pub const DEFAULT_METRICS_ADDR: &str = "[::]:9100";
/// Standalone mode's admin address when none is given: loopback only (it has no config channel
/// and its metrics are for the host).
pub const STANDALONE_ADMIN_ADDR: &str = "127.0.0.1:8100";

impl Default for ProxyOptions {
    fn default() -> Self {
        let parse = |s: &str| SocketAddr::from_str(s).ok();
        Self {
            http_addr: parse(DEFAULT_HTTP_ADDR),
            https_addr: parse(DEFAULT_HTTPS_ADDR),
            admin_addr: parse(DEFAULT_ADMIN_ADDR),
            metrics_addr: None,
            config_tls: None,
            tls_cert: None,
            tls_key: None,
            tls_sni_dir: None,
            upstream_ca: None,
            trusted_proxies: Vec::new(),
            config_token: None,
            config_token_file: None,
            max_config_bytes: 64 * 1024 * 1024,
            max_header_bytes: 32 * 1024,
            header_read_timeout: Duration::from_secs(10),
            grace_period: Duration::from_secs(20),
            drain_delay: Duration::ZERO,
            http1_fast_path: true,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            backend_policy: AddressPolicy::cluster(),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            body_budget_bytes: DEFAULT_BODY_BUDGET_BYTES,
            max_body_reads: DEFAULT_MAX_BODY_READS,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            h2_max_streams: DEFAULT_H2_MAX_STREAMS,
            access_log: true,
            per_consumer_metrics: false,
        }
    }
}

/// The listener, TLS, trusted-proxy and drain flags, the same in `tollgate-proxy` and
/// `tollgate-controller standalone` (both flatten this struct; docs/CONTRACTS.md).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct ListenerArgs {
    /// Plain HTTP listener.
    #[arg(long, default_value = DEFAULT_HTTP_ADDR)]
    pub http_addr: SocketAddr,
    /// HTTPS listener (the token endpoint requires HTTPS).
    #[arg(long, default_value = DEFAULT_HTTPS_ADDR)]
    pub https_addr: SocketAddr,
    /// Admin listener. `tollgate-proxy`: the config channel only (default `[::]:8100`, TLS with
    /// `--config-tls-cert`), health and metrics being on `--metrics-addr`. Standalone mode:
    /// `/healthz`, `/readyz` and `/metrics` (default `127.0.0.1:8100`, which nothing outside the
    /// host needs to reach).
    #[arg(long)]
    pub admin_addr: Option<SocketAddr>,
    /// PEM certificate chain of the HTTPS listener (self-signed when absent; standalone mode
    /// keeps that one in its state directory).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the HTTPS listener.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory of more HTTPS certificates, chosen by the name a client asks for (SNI): each
    /// subdirectory holding `tls.crt` and `tls.key` (a mounted `kubernetes.io/tls` Secret), or
    /// files `NAME.crt` and `NAME.key`, serves its certificate's DNS names (`*.example.com`
    /// included). Other names and clients without SNI get the `--tls-cert` certificate. These
    /// files and `--tls-cert`'s are read again when they change, without a restart.
    #[arg(long, value_name = "DIR")]
    pub tls_sni_dir: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for https backends (default: the system's bundle).
    #[arg(long)]
    pub upstream_ca_file: Option<PathBuf>,
    /// Peers whose X-Forwarded-* headers are believed, as CIDRs (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(Cidr))]
    pub trusted_proxies: Vec<Cidr>,
    /// Milliseconds to keep accepting after SIGTERM while `/readyz` answers 503, so load
    /// balancers (Kubernetes endpoints) stop sending before the listeners close.
    #[arg(long, default_value_t = 1000)]
    pub drain_delay_ms: u64,
    /// Serve plain HTTP/1 requests on the inline fast path (`false`: hyper serves every
    /// request; HTTP/2 and unusual HTTP/1 requests always go to hyper).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub http1_fast_path: bool,
    /// Seconds to wait for the next chunk of a body the gateway reads itself (the token
    /// endpoint's, a form body carrying a token); the whole body gets four times this. A client
    /// that stalls gets 408 and its buffer is freed.
    #[arg(long, default_value_t = DEFAULT_BODY_TIMEOUT_SECS)]
    pub body_timeout_secs: u64,
    /// Bytes all such bodies may hold at once; a request that would exceed it gets 503.
    #[arg(long, default_value_t = DEFAULT_BODY_BUDGET_BYTES)]
    pub body_budget_bytes: usize,
    /// Such bodies being read at once (each pins a request's state); one more gets 503.
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_READS)]
    pub max_body_reads: usize,
    /// Client connections open at once, all listeners together; more are closed on accept.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// HTTP/2 streams at once per connection.
    #[arg(long, default_value_t = DEFAULT_H2_MAX_STREAMS)]
    pub h2_max_streams: u32,
    /// Backend addresses to allow although refused by default, as a CIDR (repeat the flag or
    /// separate with commas), e.g. `127.0.0.0/8`. By default `tollgate-proxy` refuses backends
    /// resolving to loopback (127.0.0.0/8, ::1), link-local (169.254.0.0/16, fe80::/10, cloud
    /// metadata) and unspecified (0.0.0.0/8, ::) addresses, IPv4-mapped IPv6 spellings included;
    /// standalone mode refuses only link-local. The proxy's own listening ports are refused
    /// whatever this says.
    #[arg(long = "backend-allow-cidr", value_name = "CIDR", value_delimiter = ',',
          value_parser = clap::value_parser!(Cidr))]
    pub backend_allow_cidrs: Vec<Cidr>,
    /// Backend addresses to refuse on top of the defaults, as a CIDR (repeat the flag or
    /// separate with commas). Where an allow and a deny entry both cover an address, the more
    /// specific one (longer prefix) decides, and deny wins a tie.
    #[arg(long = "backend-deny-cidr", value_name = "CIDR", value_delimiter = ',',
          value_parser = clap::value_parser!(Cidr))]
    pub backend_deny_cidrs: Vec<Cidr>,
    /// One line per request on stdout (time, client, method, path with credential-like query
    /// values redacted, status, bytes, durations, route, consumer, request id), JSON under
    /// `--log-format json`.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub access_log: Switch,
    /// Count requests per consumer as well (`tollgate_consumer_requests_total{consumer,status}`).
    /// The first 100 consumers seen get series of their own, the others share
    /// `consumer="other"`, so a Prometheus' load stays bounded whatever the number of consumers.
    #[arg(long, default_value_t = false)]
    pub metrics_per_consumer: bool,
}

/// `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

impl ListenerArgs {
    /// The backend address policy of `mode` with these flags' allow- and deny-lists.
    pub fn backend_policy(&self, mode: Mode) -> AddressPolicy {
        AddressPolicy::new(mode)
            .allow(self.backend_allow_cidrs.iter().copied())
            .deny(self.backend_deny_cidrs.iter().copied())
    }

    /// The options these flags describe (cluster mode's backend address policy; standalone mode
    /// replaces it); `config_token` `None` disables `POST /config`.
    pub fn into_options(self, config_token: Option<ConfigToken>) -> ProxyOptions {
        ProxyOptions {
            backend_policy: self.backend_policy(Mode::Cluster),
            http_addr: Some(self.http_addr),
            https_addr: Some(self.https_addr),
            admin_addr: self
                .admin_addr
                .or_else(|| SocketAddr::from_str(DEFAULT_ADMIN_ADDR).ok()),
            tls_cert: self.tls_cert,
            tls_key: self.tls_key,
            tls_sni_dir: self.tls_sni_dir,
            upstream_ca: self.upstream_ca_file,
            trusted_proxies: self.trusted_proxies,
            config_token,
            drain_delay: Duration::from_millis(self.drain_delay_ms),
            http1_fast_path: self.http1_fast_path,
            body_timeout: Duration::from_secs(self.body_timeout_secs.max(1)),
            body_budget_bytes: self.body_budget_bytes,
            max_body_reads: self.max_body_reads.max(1),
            max_connections: self.max_connections.max(1),
            h2_max_streams: self.h2_max_streams.max(1),
            access_log: self.access_log == Switch::On,
            per_consumer_metrics: self.metrics_per_consumer,
            ..ProxyOptions::default()
        }
    }
}

/// The whole command line of `tollgate-proxy` (in the library so that tests can compare it with
/// `tollgate-controller standalone`'s).
#[derive(Debug, clap::Parser)]
#[command(
    name = "tollgate-proxy",
    version,
    about = "Tollgate's proxy: serves traffic, issues and verifies OAuth 2.0 tokens, receives its \
             config from the controller on the admin port."
)]
pub struct ProxyArgs {
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// File holding the config-channel bearer token.
    #[arg(long, conflicts_with = "config_token")]
    pub config_token_file: Option<PathBuf>,
    /// The config-channel bearer token (prefer the file).
    #[arg(long, env = "TOLLGATE_CONFIG_TOKEN", hide_env_values = true)]
    pub config_token: Option<String>,
    /// Listener of `/healthz`, `/readyz` and `/metrics`, apart from the config channel so that
    /// scrapers and probes never need to reach it.
    #[arg(long, default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: SocketAddr,
    /// PEM certificate chain of the config channel (the admin port then speaks only TLS; new
    /// files are picked up without a restart). Required with a config token, unless
    /// `--config-channel-plaintext`.
    #[arg(long, requires = "config_tls_key")]
    pub config_tls_cert: Option<PathBuf>,
    /// PEM private key of the config channel.
    #[arg(long, requires = "config_tls_cert")]
    pub config_tls_key: Option<PathBuf>,
    /// Accept config pushes over plain HTTP (anyone who can read pod traffic then reads the
    /// signing keys and the token): for local experiments only.
    #[arg(long)]
    pub config_channel_plaintext: bool,
    #[command(flatten)]
    pub log: crate::logging::LogArgs,
}

impl ProxyOptions {
    /// Options for tests: every listener on an ephemeral loopback port, and standalone mode's
    /// backend address policy (test upstreams listen on loopback too).
    pub fn loopback() -> Self {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            http_addr: Some(any),
            https_addr: Some(any),
            admin_addr: Some(any),
            metrics_addr: None,
            backend_policy: AddressPolicy::standalone(),
            // Test processes print nothing per request unless a test asks for it.
            access_log: false,
            ..Self::default()
        }
    }

    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_matched_by_cidr() {
        let options = ProxyOptions {
            trusted_proxies: parse_cidrs("10.0.0.0/8, ::1").expect("cidrs"),
            ..ProxyOptions::default()
        };
        for (ip, expected) in [
            ("10.1.2.3", true),
            ("::ffff:10.0.0.1", true),
            ("::1", true),
            ("11.0.0.1", false),
        ] {
            assert_eq!(options.is_trusted(ip.parse().expect(ip)), expected, "{ip}");
        }
    }
}
