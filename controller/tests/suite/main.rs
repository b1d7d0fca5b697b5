//! The controller's integration tests, in one test binary (`cargo test -p tollgate-controller
//! --test suite`): the generated CRDs' drift check, the `/metrics` text, the quickstart
//! manifests' translation, and the config channel over TLS. `hash_memory.rs` stays a binary of
//! its own: it measures this process's memory, so no other test may allocate beside it.

mod config_channel_tls;
mod crds;
mod metrics_text;
mod quickstart;
