//! `tollgate-controller`: parse arguments, set up tracing, run standalone mode or the operator.

use std::process::ExitCode;

use clap::Parser;
use tollgate_controller::cli::{Cli, Command};
use tollgate_controller::{operator, standalone};
use tollgate_proxy::logging;

/// jemalloc rather than the system allocator: standalone mode keeps the objects of its manifests
/// directory (hundreds of thousands of small allocations, made on several threads) beside the
/// proxy's tables, and glibc's per-thread arenas kept 30–45 MiB more resident for the same
/// objects (docs/performance.md, "Large manifest directories").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Standalone(args) => runtime
            .block_on(standalone::run(
                args.into_options(),
                tollgate_proxy::shutdown_signal(),
            ))
            .map_err(|e| e.to_string()),
        Command::Run(args) => runtime
            .block_on(operator::run(*args))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "tollgate-controller failed");
            ExitCode::FAILURE
        }
    }
}
