//! Writes `crds/<plural>.tollgate.dev.yaml` from the Rust types, and the same files into the Helm
//! chart's `charts/tollgate/crds/` when the chart exists (`cargo run --bin crdgen`). With an
//! argument, writes only into that directory.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let repo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let dirs = match std::env::args_os().nth(1) {
        Some(dir) => vec![PathBuf::from(dir)],
        None => {
            let mut dirs = vec![repo.join("crds")];
            let chart = repo.join("charts/tollgate");
            if chart.is_dir() {
                dirs.push(chart.join("crds"));
            }
            dirs
        }
    };
    for dir in dirs {
        match tollgate_controller::crdgen::write_all(&dir) {
            Ok(written) => {
                for path in written {
                    println!("wrote {}", path.display());
                }
            }
            Err(err) => {
                eprintln!("crdgen: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
