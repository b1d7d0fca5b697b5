//! The controller's integration tests, in one test binary (`cargo test -p tollgate-controller
//! --test suite`): the generated CRDs' drift check, the `/metrics` text, and the quickstart
//! manifests' translation. `hash_memory.rs` stays a binary of its own: it measures this process's
//! memory, so no other test may allocate beside it.

mod crds;
mod metrics_text;
mod quickstart;
