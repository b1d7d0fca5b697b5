//! `tollgate-proxy`: parse arguments, set up tracing, serve.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tollgate_core::config_channel::ConfigToken;
use tollgate_proxy::logging;
use tollgate_proxy::options::ProxyArgs;
use tollgate_proxy::{ProxyState, serve, shutdown_signal};

fn main() -> ExitCode {
    let args = ProxyArgs::parse();
    logging::init(args.log.log_format);
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
    let config_tls = args
        .config_tls_cert
        .clone()
        .zip(args.config_tls_key.clone());
    if config_token.is_some() && config_tls.is_none() {
        if !args.config_channel_plaintext {
            tracing::error!(
                "the config channel carries the signing keys: give it a certificate \
                 (--config-tls-cert and --config-tls-key), or accept plain HTTP with \
                 --config-channel-plaintext"
            );
            return ExitCode::FAILURE;
        }
        tracing::warn!(
            "the config channel is plain HTTP: whoever reads pod traffic reads the signing keys"
        );
    }
    let mut options = args.listener.into_options(config_token);
    options.config_token_file = args.config_token_file.clone();
    options.metrics_addr = Some(args.metrics_addr);
    options.config_tls = config_tls;
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
