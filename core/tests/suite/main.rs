//! The core crate's integration tests, in one test binary (`cargo test -p tollgate-core --test
//! suite`): the hostile-input suites for tokens and the token endpoint, which print
//! `HOSTILE-CASES` count lines (`-- --nocapture`). `hostile_support` holds their fixtures.

mod hostile_support;

mod hostile_token_endpoint;
mod hostile_tokens;
