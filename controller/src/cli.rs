//! Command line of `tollgate-controller` (docs/CONTRACTS.md).

use std::net::SocketAddr;
use std::path::PathBuf;

use tollgate_proxy::logging::LogFormat;
use tollgate_proxy::options::{self, Cidr, ProxyOptions};

use crate::operator::RunArgs;
use crate::standalone::{DEFAULT_POLL_INTERVAL, StandaloneOptions};

/// Tollgate's control plane: turns Consumers, OAuth2Credentials, AuthPlugins and GatewayRoutes
/// into proxy configuration.
#[derive(Debug, clap::Parser)]
#[command(name = "tollgate-controller", version)]
pub struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the manifests of a directory with an in-process proxy: no cluster, no database.
    Standalone(StandaloneArgs),
    /// Run the Kubernetes operator (in-cluster configuration, or KUBECONFIG).
    Run(RunArgs),
}

/// Flags of `tollgate-controller standalone`.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Directory of YAML manifests (our resources and labelled Secrets); watched for changes.
    #[arg(long)]
    pub manifests: PathBuf,
    /// Where the generated signing key and self-signed certificate are kept.
    #[arg(long, default_value = ".tollgate-state")]
    pub state_dir: PathBuf,
    /// Plain HTTP listener (protected routes).
    #[arg(long, default_value = options::DEFAULT_HTTP_ADDR)]
    pub http_addr: SocketAddr,
    /// HTTPS listener (the token endpoint requires HTTPS).
    #[arg(long, default_value = options::DEFAULT_HTTPS_ADDR)]
    pub https_addr: SocketAddr,
    /// Health (`/healthz`, `/readyz`), metrics and `GET /config`.
    #[arg(long, default_value = options::DEFAULT_ADMIN_ADDR)]
    pub admin_addr: SocketAddr,
    /// PEM certificate chain of the HTTPS listener (self-signed, kept in the state directory,
    /// when absent).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of the HTTPS listener.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Peers whose X-Forwarded-* headers are believed, as CIDRs (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(Cidr))]
    pub trusted_proxies: Vec<Cidr>,
    /// Threads hashing client secrets (argon2id, 19 MiB each while busy); one fewer than the
    /// cores when absent.
    #[arg(long)]
    pub hash_threads: Option<usize>,
}

impl StandaloneArgs {
    pub fn into_options(self) -> StandaloneOptions {
        StandaloneOptions {
            manifests: self.manifests,
            state_dir: self.state_dir,
            poll_interval: DEFAULT_POLL_INTERVAL,
            hash_threads: self
                .hash_threads
                .unwrap_or_else(crate::translate::hash_pool::default_threads),
            proxy: ProxyOptions {
                http_addr: Some(self.http_addr),
                https_addr: Some(self.https_addr),
                admin_addr: Some(self.admin_addr),
                tls_cert: self.tls_cert,
                tls_key: self.tls_key,
                trusted_proxies: self.trusted_proxies,
                // Standalone mode configures itself from DIR: no config pushes.
                config_token: None,
                ..ProxyOptions::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn standalone_flags_parse_with_contract_defaults() {
        let cli = Cli::try_parse_from([
            "tollgate-controller",
            "standalone",
            "--manifests",
            "examples/quickstart",
            "--trusted-proxies",
            "10.0.0.0/8,127.0.0.1",
        ])
        .expect("parse");
        let Command::Standalone(args) = cli.command else {
            panic!("expected standalone");
        };
        let options = args.into_options();
        assert_eq!(options.state_dir, PathBuf::from(".tollgate-state"));
        assert_eq!(options.proxy.http_addr, "0.0.0.0:8000".parse().ok());
        assert_eq!(options.proxy.https_addr, "0.0.0.0:8443".parse().ok());
        assert_eq!(options.proxy.admin_addr, "0.0.0.0:8100".parse().ok());
        assert_eq!(options.proxy.trusted_proxies.len(), 2);
        assert!(options.proxy.config_token.is_none());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let parsed = Cli::try_parse_from([
            "tollgate-controller",
            "standalone",
            "--manifests",
            "d",
            "--tls-cert",
            "c.pem",
        ]);
        assert!(parsed.is_err());
    }
}
