//! The one writer of the generated CRDs: writes `crds/<plural>.tollgate.dev.yaml` from the Rust
//! types, and the same files into the Helm chart's `charts/tollgate/crds/`
//! (`cargo run -p tollgate-controller --bin crdgen`). `controller/tests/crds.rs` fails when either
//! directory drifts from the types.

use std::process::ExitCode;

fn main() -> ExitCode {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for dir in tollgate_controller::crdgen::OUTPUT_DIRS {
        match tollgate_controller::crdgen::write_all(&repo.join(dir)) {
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
