//! End-to-end test harness for Tollgate.
//!
//! Spawns the real binaries (`tollgate-controller`, `tollgate-proxy`), a real
//! httpbin upstream from PyPI, and talks to them over real sockets with an HTTPS client that
//! trusts the certificate the gateway wrote. Nothing here sleeps blindly: every wait polls a
//! condition until a deadline ([`wait::wait_until`]).
//!
//! Building blocks:
//! - [`workdir::WorkDir`]: a per-test temporary directory; child logs live there and are printed
//!   when the test fails (the directory is then kept for inspection).
//! - [`process::Process`]: a child process in its own process group, output captured to a log
//!   file, killed (with its whole group) on drop.
//! - [`ports::free_port`], [`paths`]: loopback ports, the binaries, the Python venv.
//! - [`client::Client`]: HTTP/1.1 and HTTP/2 over TCP or TLS (hyper + tokio-rustls, ring).
//! - [`raw::raw_http1`]: a hand-written HTTP/1.1 request, for exact header spelling and repeats.
//! - [`certs`]: self-signed certificates and a kubelet-style Secret volume (the proxy's unit
//!   tests use them too, as a dev-dependency).
//! - [`httpbin::Httpbin`], [`gateway::Standalone`], [`proxy::Proxy`], [`manifests::Manifests`]:
//!   the fixtures; [`fixture::Quickstart`]: all of them serving the quickstart, per test; [`cluster`]: the API emulator, `kubectl` and `tollgate-controller run` for the
//!   cluster-less operator suite (`tests/cluster.rs`); [`prometheus`]: a real Prometheus and
//!   `promtool` (`tests/prometheus.rs`).

#![forbid(unsafe_code)]

pub mod certs;
pub mod client;
pub mod cluster;
pub mod error;
pub mod fixture;
pub mod gateway;
pub mod httpbin;
pub mod manifests;
pub mod oidc;
pub mod paths;
pub mod ports;
pub mod process;
pub mod prometheus;
pub mod proxy;
pub mod raw;
pub mod wait;
pub mod workdir;

pub use error::Error;

/// The quickstart's consumer, application and secret (`examples/quickstart/`).
pub mod quickstart {
    pub const NAMESPACE: &str = "default";
    pub const CONSUMER: &str = "jane";
    pub const USERNAME: &str = "jane";
    pub const CLIENT_ID: &str = "client";
    pub const CLIENT_SECRET: &str = "secret";
    /// Path of the token endpoint on the `auth` route.
    pub const TOKEN_PATH: &str = "/auth/oauth2/token";
}
