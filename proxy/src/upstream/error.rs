//! Why an inline-client exchange or a body failed.

use super::connector::ConnectError;

/// Why an exchange with the inline client failed.
#[derive(Debug, thiserror::Error)]
pub enum InlineError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("upstream I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("upstream closed the connection before responding")]
    ClosedBeforeResponse,
    #[error("upstream closed the connection inside the response body")]
    Truncated,
    #[error("malformed upstream response: {0}")]
    Malformed(&'static str),
    #[error("upstream timed out")]
    TimedOut,
}

/// A body that failed: hyper's (client or upstream connection), or the inline upstream
/// client's.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error("upstream response body: {0}")]
    Upstream(#[from] InlineError),
}
