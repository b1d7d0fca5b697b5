//! The proxy's integration tests, in one test binary (`cargo test -p tollgate-proxy --test suite`):
//! a real proxy on loopback ports, driven by real HTTP/1.1, HTTP/2 and TLS clients against real
//! upstreams. One module per topic; `support` and `hostile_support` hold the shared fixtures.
//! Hostile-input modules are named `hostile_<topic>` and print `HOSTILE-CASES` count lines.

mod hostile_support;
mod support;

mod address_policy;
mod admin;
mod dependencies;
mod errors;
mod flow;
mod gateway_routes;
mod h1;
mod hardening;
mod hostile_config;
mod hostile_http;
mod hostile_identity;
mod hostile_paths;
mod logging;
mod scale;
mod served_certificates;
