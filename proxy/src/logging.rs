//! Tracing setup shared by the binaries: `--log-format json|text`, level from `RUST_LOG`
//! (default `info`). Nothing on the request path logs above `debug`, and nothing ever logs a
//! token, a secret or an `Authorization` header.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `--log-format json|text`, shared by both binaries (global: `tollgate-controller` accepts it
/// before or after its subcommand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct LogArgs {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Installs the global subscriber (a second call is a no-op). Logs go to stdout; colour codes
/// only when stdout is a terminal, so files and log collectors get plain text.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// The format [`init`] was given (text when it was not called): the access log writes its
/// lines in the same one.
pub fn format() -> LogFormat {
    FORMAT.get().copied().unwrap_or_default()
}
