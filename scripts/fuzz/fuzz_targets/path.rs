//! Path normalization and routing, the defence against path tricks: any normalized path is
//! absolute, idempotent under normalization, free of empty and dot segments and of encoded
//! unreserved characters; it matches the protected `/api` route exactly when it names it; and
//! the path sent upstream is itself normalized, so an upstream cannot re-route it with dot
//! segments of its own.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate_core::routing::{RouteTable, normalize_path, upstream_path};
use tollgate_fuzz_seeds::snapshot;

static TABLE: LazyLock<RouteTable> = LazyLock::new(|| {
    let mut routes = snapshot().routes;
    for route in &mut routes {
        route.hosts.clear();
        route.methods.clear();
    }
    RouteTable::new(&routes)
});

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(path) = normalize_path(raw) else {
        return;
    };
    assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
    assert_eq!(
        normalize_path(&path).as_deref(),
        Ok(path.as_str()),
        "not idempotent: {raw:?}"
    );
    assert!(!path.contains("//"), "{raw:?} -> {path:?}");
    for segment in path.split('/') {
        assert!(segment != "." && segment != "..", "{raw:?} -> {path:?}");
    }
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("two hex digits after %");
        assert_eq!(hex, hex.to_ascii_uppercase(), "{raw:?} -> {path:?}");
        let value = u8::from_str_radix(hex, 16).expect("hex");
        assert!(
            !is_unreserved(value),
            "an encoded unreserved character survived: {raw:?} -> {path:?}"
        );
    }

    let names_api = path == "/api" || path.starts_with("/api/");
    let found = TABLE.find(None, "GET", &path);
    let routed_to_api = found.is_some_and(|m| m.route.id == "default/api");
    assert_eq!(names_api, routed_to_api, "{raw:?} -> {path:?}");
    if let Some(m) = found {
        let backend = m.route.backend.as_ref().map_or("", |b| b.path.as_str());
        let upstream = upstream_path(m.route, backend, m.matched_prefix, &path);
        assert_eq!(
            normalize_path(&upstream).as_deref(),
            Ok(upstream.as_str()),
            "upstream path {upstream:?} of {raw:?}"
        );
    }
});
