//! `tollgate-proxy`: parse arguments, set up tracing, serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tollgate_proxy::logging::{self, LogFormat};
use tollgate_proxy::options::{self, ConfigToken, ProxyOptions};
use tollgate_proxy::{ProxyState, serve, shutdown_signal};

/// Tollgate's proxy: serves traffic, issues and verifies OAuth 2.0 tokens, receives its config
/// from the controller on the admin port.
#[derive(Debug, Parser)]
#[command(name = "tollgate-proxy", version)]
struct Args {
    #[arg(long, default_value = options::DEFAULT_HTTP_ADDR)]
    http_addr: SocketAddr,
    #[arg(long, default_value = options::DEFAULT_HTTPS_ADDR)]
    https_addr: SocketAddr,
    #[arg(long, default_value = options::DEFAULT_ADMIN_ADDR)]
    admin_addr: SocketAddr,
    /// PEM certificate chain of the HTTPS listener (self-signed when absent).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the HTTPS listener.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// PEM bundle of the CAs trusted for https backends (default: the system's bundle).
    #[arg(long)]
    upstream_ca_file: Option<PathBuf>,
    /// Peers whose X-Forwarded-* headers are believed, as CIDRs.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(options::Cidr))]
    trusted_proxies: Vec<options::Cidr>,
    /// File holding the config-channel bearer token.
    #[arg(long, conflicts_with = "config_token")]
    config_token_file: Option<PathBuf>,
    /// The config-channel bearer token (prefer the file).
    #[arg(long, env = "TOLLGATE_CONFIG_TOKEN", hide_env_values = true)]
    config_token: Option<String>,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// Milliseconds to keep accepting after SIGTERM while `/readyz` answers 503, so load
    /// balancers (Kubernetes endpoints) stop sending before the listeners close.
    #[arg(long, default_value_t = 1000)]
    drain_delay_ms: u64,
    /// Serve plain HTTP/1 requests on the inline fast path (`false`: hyper serves every
    /// request; HTTP/2 and unusual HTTP/1 requests always go to hyper).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    http1_fast_path: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.log_format);
    let config_token = match (&args.config_token_file, &args.config_token) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(token) => ConfigToken::new(&token),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the config token file");
                return ExitCode::FAILURE;
            }
        },
        (None, Some(token)) => ConfigToken::new(token),
        (None, None) => None,
    };
    if config_token.is_none() {
        tracing::warn!("no config token: POST /config is disabled");
    }
    let options = ProxyOptions {
        http_addr: Some(args.http_addr),
        https_addr: Some(args.https_addr),
        admin_addr: Some(args.admin_addr),
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        upstream_ca: args.upstream_ca_file,
        trusted_proxies: args.trusted_proxies,
        config_token,
        drain_delay: std::time::Duration::from_millis(args.drain_delay_ms),
        http1_fast_path: args.http1_fast_path,
        ..ProxyOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let state = Arc::new(ProxyState::new());
    match runtime.block_on(serve(options, state, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "proxy failed");
            ExitCode::FAILURE
        }
    }
}
