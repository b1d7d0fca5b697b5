//! The config channel's decoder: `serde_json::from_slice::<Snapshot>`, then `validate`, then the
//! proxy's apply step (what `POST /config` runs: validate, compile, swap). Never panics; what
//! the proxy applies also validates and is held; what it refuses changes nothing; a decoded
//! snapshot round-trips through its canonical JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::snapshot::Snapshot;
use tollgate_proxy::ProxyState;

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = serde_json::from_slice::<Snapshot>(data) else {
        return;
    };
    let again: Snapshot =
        serde_json::from_slice(&snapshot.to_json()).expect("canonical JSON decodes");
    assert_eq!(again, snapshot, "round trip");
    let valid = tollgate_core::validate::validate(&snapshot);
    if let Err(problems) = &valid {
        assert!(!problems.is_empty());
    }
    // `ProxyState::apply` is what `POST /config` runs: validation, then the proxy's compile.
    let state = ProxyState::new();
    let hash = snapshot.content_hash();
    match state.apply(snapshot) {
        Ok(applied) => {
            assert!(valid.is_ok(), "applied a snapshot that does not validate");
            assert_eq!(
                (applied, state.hash()),
                (hash.clone(), hash),
                "the applied hash is held"
            );
        }
        Err(problems) => {
            assert!(!problems.is_empty());
            assert_eq!(state.hash(), "", "a refused snapshot changes nothing");
        }
    }
});
