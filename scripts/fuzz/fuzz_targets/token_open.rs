//! The token decoder: `KeyRing::open` on any string, then the verification decision at every
//! plugin. Never panics; a token that opens re-issues to the same claims; a refusal is always a
//! 401 `invalid_token` (or the missing-token `invalid_request`), never a 500.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tollgate_core::oauth::{SnapshotIndex, authenticate};
use tollgate_core::snapshot::Snapshot;
use tollgate_core::token::KeyRing;
use tollgate_fuzz_seeds::{NOW, ring, snapshot};

struct World {
    snapshot: Snapshot,
    index: SnapshotIndex,
    ring: KeyRing,
}

static WORLD: LazyLock<Option<World>> = LazyLock::new(|| {
    let snapshot = snapshot();
    let ring = ring(&snapshot)?;
    Some(World {
        index: SnapshotIndex::new(&snapshot),
        snapshot,
        ring,
    })
});

fuzz_target!(|data: &[u8]| {
    let Some(world) = WORLD.as_ref() else { return };
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let opened = world.ring.open(token);
    if let Ok(claims) = &opened {
        let again = world
            .ring
            .issue(claims, [7; 24])
            .map(|t| world.ring.open(&t));
        assert_eq!(
            again,
            Ok(Ok(claims.clone())),
            "claims that open must round-trip"
        );
    }
    for plugin in &world.snapshot.plugins {
        match authenticate(plugin, Some(opened.clone()), &world.index, NOW) {
            Ok(identity) => assert!(
                !identity.anonymous,
                "no plugin here has an anonymous consumer"
            ),
            Err(e) => {
                assert_eq!((e.status, e.error), (401, "invalid_token"), "{e:?}");
                assert!(e.www_authenticate.is_some());
                let _ = e.body();
                let _ = e.headers();
            }
        }
    }
});
