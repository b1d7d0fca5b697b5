//! Command line of `tollgate-controller` (docs/CONTRACTS.md).

use std::path::PathBuf;

use tollgate_proxy::logging::LogArgs;
use tollgate_proxy::options::{ListenerArgs, Mode};

use crate::operator::RunArgs;
use crate::standalone::{DEFAULT_POLL_INTERVAL, StandaloneOptions};

/// Tollgate's control plane: turns Consumers, OAuth2Credentials, AuthPlugins and GatewayRoutes
/// into proxy configuration.
#[derive(Debug, clap::Parser)]
#[command(name = "tollgate-controller", version)]
pub struct Cli {
    /// `--log-format json|text`, before or after the subcommand.
    #[command(flatten)]
    pub log: LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the manifests of a directory with an in-process proxy: no cluster, no database.
    Standalone(Box<StandaloneArgs>),
    /// Run the Kubernetes operator (in-cluster configuration, or KUBECONFIG).
    Run(Box<RunArgs>),
}

/// Flags of `tollgate-controller standalone`: the proxy's listener flags plus its own.
#[derive(Debug, clap::Args)]
pub struct StandaloneArgs {
    /// Directory of YAML manifests (our resources and labelled Secrets); watched for changes.
    #[arg(long)]
    pub manifests: PathBuf,
    /// Where the generated signing key and self-signed certificate are kept.
    #[arg(long, default_value = ".tollgate-state")]
    pub state_dir: PathBuf,
    /// Threads hashing client secrets (argon2id, 19 MiB each while busy); one fewer than the
    /// cores when absent.
    #[arg(long)]
    pub hash_threads: Option<usize>,
    /// The same listener, TLS, trusted-proxy and drain flags as `tollgate-proxy`.
    #[command(flatten)]
    pub listener: ListenerArgs,
}

impl StandaloneArgs {
    pub fn into_options(self) -> StandaloneOptions {
        let loopback_admin = self.listener.admin_addr.is_none();
        let backend_policy = self.listener.backend_policy(Mode::Standalone);
        let mut proxy = self.listener.into_options(None);
        proxy.backend_policy = backend_policy;
        if loopback_admin {
            proxy.admin_addr = tollgate_proxy::options::STANDALONE_ADMIN_ADDR.parse().ok();
        }
        StandaloneOptions {
            manifests: self.manifests,
            state_dir: self.state_dir,
            poll_interval: DEFAULT_POLL_INTERVAL,
            hash_threads: self
                .hash_threads
                .unwrap_or_else(crate::translate::hash_pool::default_threads),
            // Standalone mode configures itself from DIR: no config pushes.
            proxy,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tollgate_proxy::logging::LogFormat;
    use tollgate_proxy::options::ProxyArgs;

    use super::*;

    fn standalone(flags: &[&str]) -> Result<(LogArgs, StandaloneArgs), clap::Error> {
        let argv = ["tollgate-controller", "standalone", "--manifests", "d"]
            .iter()
            .chain(flags)
            .copied();
        let Cli { log, command } = Cli::try_parse_from(argv)?;
        let Command::Standalone(args) = command else {
            panic!("expected standalone");
        };
        Ok((log, *args))
    }

    fn proxy(flags: &[&str]) -> Result<ProxyArgs, clap::Error> {
        ProxyArgs::try_parse_from(std::iter::once(&"tollgate-proxy").chain(flags).copied())
    }

    #[test]
    fn standalone_flags_parse_with_contract_defaults() {
        let (_, args) = standalone(&["--trusted-proxies", "10.0.0.0/8,127.0.0.1"]).expect("parse");
        let options = args.into_options();
        assert_eq!(options.manifests, PathBuf::from("d"));
        assert_eq!(options.state_dir, PathBuf::from(".tollgate-state"));
        assert_eq!(options.proxy.http_addr, "[::]:8000".parse().ok());
        assert_eq!(options.proxy.https_addr, "[::]:8443".parse().ok());
        // Loopback by default in standalone mode (`tollgate-proxy`: `[::]:8100`).
        assert_eq!(options.proxy.admin_addr, "127.0.0.1:8100".parse().ok());
        assert_eq!(options.proxy.trusted_proxies.len(), 2);
        assert_eq!(options.proxy.drain_delay.as_millis(), 1000);
        assert!(options.proxy.http1_fast_path);
        assert!(options.proxy.config_token.is_none());
    }

    /// Every listener flag, each away from its default.
    const LISTENER_FLAGS: &[&str] = &[
        "--http-addr",
        "127.0.0.1:18000",
        "--https-addr",
        "127.0.0.1:18443",
        "--admin-addr",
        "127.0.0.1:18100",
        "--tls-cert",
        "c.pem",
        "--tls-key",
        "k.pem",
        "--upstream-ca-file",
        "ca.pem",
        "--trusted-proxies",
        "10.0.0.0/8,::1",
        "--drain-delay-ms",
        "250",
        "--http1-fast-path",
        "false",
        "--backend-allow-cidr",
        "127.0.0.0/8,::1",
        "--backend-allow-cidr",
        "169.254.20.10",
        "--backend-deny-cidr",
        "10.96.0.0/12",
        "--log-format",
        "json",
    ];

    #[test]
    fn both_binaries_accept_the_same_listener_flags() {
        let proxy = proxy(LISTENER_FLAGS).expect("tollgate-proxy parses");
        let (log, args) = standalone(LISTENER_FLAGS).expect("standalone parses");
        assert_eq!(proxy.listener, args.listener);
        assert_eq!(proxy.log, log);
        assert_eq!(log.log_format, LogFormat::Json);
        let options = args.into_options();
        assert_eq!(options.proxy.https_addr, "127.0.0.1:18443".parse().ok());
        assert_eq!(options.proxy.upstream_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(options.proxy.drain_delay.as_millis(), 250);
        assert!(!options.proxy.http1_fast_path);
        assert!(options.proxy.config_token.is_none());
    }

    #[test]
    fn both_binaries_have_the_same_listener_defaults() {
        let proxy = proxy(&[]).expect("tollgate-proxy parses");
        let (log, args) = standalone(&[]).expect("standalone parses");
        assert_eq!(proxy.listener, args.listener);
        assert_eq!(proxy.log, log);
    }

    #[test]
    fn the_backend_address_policy_is_cluster_modes_for_the_proxy_and_standalone_modes_here() {
        use tollgate_core::address::Refusal;
        let loopback = "127.0.0.1".parse().expect("ip");
        let metadata = "169.254.169.254".parse().expect("ip");
        let (_, args) = standalone(&[]).expect("standalone parses");
        let standalone_policy = args.into_options().proxy.backend_policy;
        assert_eq!(standalone_policy.mode(), Mode::Standalone);
        assert_eq!(standalone_policy.judge_ip(loopback), Ok(()));
        assert_eq!(
            standalone_policy.judge_ip(metadata),
            Err(Refusal::LinkLocal)
        );
        let proxy_policy = proxy(&[])
            .expect("parses")
            .listener
            .into_options(None)
            .backend_policy;
        assert_eq!(proxy_policy.mode(), Mode::Cluster);
        assert_eq!(proxy_policy.judge_ip(loopback), Err(Refusal::Loopback));

        let (_, args) = standalone(LISTENER_FLAGS).expect("standalone parses");
        let policy = args.into_options().proxy.backend_policy;
        assert_eq!(policy.allowed().len(), 3);
        assert_eq!(policy.denied().len(), 1);
        let proxy_policy = proxy(LISTENER_FLAGS)
            .expect("parses")
            .listener
            .into_options(None)
            .backend_policy;
        assert_eq!(proxy_policy.judge_ip(loopback), Ok(()));
        assert_eq!(proxy_policy.judge_ip(metadata), Err(Refusal::LinkLocal));
        assert_eq!(
            proxy_policy.judge_ip("169.254.20.10".parse().expect("ip")),
            Ok(())
        );
        assert!(matches!(
            proxy_policy.judge_ip("10.96.0.1".parse().expect("ip")),
            Err(Refusal::Denied(_))
        ));
        assert!(proxy(&["--backend-allow-cidr", "metadata.internal"]).is_err());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_by_both() {
        assert!(standalone(&["--tls-cert", "c.pem"]).is_err());
        assert!(proxy(&["--tls-cert", "c.pem"]).is_err());
    }

    #[test]
    fn standalone_never_takes_a_config_token() {
        assert!(standalone(&["--config-token-file", "t"]).is_err());
    }
}
