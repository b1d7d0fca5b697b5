use super::*;

fn id(n: u8) -> RevokedId {
    RevokedId::token([n; 16])
}

#[test]
fn an_inserted_id_is_revoked_until_its_expiry_and_not_after() {
    let mut store = RevocationStore::new(10);
    assert_eq!(store.insert(id(1), 100, 50), Ok(Insert::New(1)));
    assert!(store.contains(&id(1), 99));
    assert!(!store.contains(&id(1), 100));
    assert!(!store.contains(&id(2), 50));
    assert_eq!(store.purge(100), 1);
    assert!(store.is_empty());
}

#[test]
fn an_entry_without_expiry_stays() {
    let mut store = RevocationStore::new(10);
    store.insert(id(1), 0, 50).expect("fits");
    assert!(store.contains(&id(1), u64::MAX));
    assert_eq!(store.purge(u64::MAX), 0);
}

#[test]
fn a_second_insert_is_known_which_makes_a_single_use_test() {
    let mut store = RevocationStore::new(10);
    let code = RevokedId::code([7; 16]);
    assert_eq!(store.insert(code, 100, 1), Ok(Insert::New(1)));
    assert_eq!(store.insert(code, 100, 2), Ok(Insert::Known));
    // The same bytes of another kind are another id.
    assert_eq!(
        store.insert(RevokedId::token([7; 16]), 100, 2),
        Ok(Insert::New(2))
    );
}

#[test]
fn an_already_expired_id_is_not_kept() {
    let mut store = RevocationStore::new(10);
    assert_eq!(store.insert(id(1), 10, 10), Ok(Insert::Expired));
    assert!(store.is_empty());
}

#[test]
fn at_capacity_expired_entries_make_room_and_otherwise_the_insert_fails() {
    let mut store = RevocationStore::new(2);
    store.insert(id(1), 10, 0).expect("fits");
    store.insert(id(2), 100, 0).expect("fits");
    assert_eq!(store.insert(id(3), 100, 5), Err(Full(2)));
    assert!(!store.contains(&id(3), 5));
    // Once the first has expired, its place is free.
    assert_eq!(store.insert(id(3), 100, 10), Ok(Insert::New(3)));
    assert!(store.contains(&id(2), 10) && store.contains(&id(3), 10));
}

#[test]
fn since_pages_through_local_inserts_but_not_merged_ones() {
    let mut store = RevocationStore::new(100);
    for n in 1..=5 {
        store.insert(id(n), 0, 0).expect("fits");
    }
    store.merge([Entry { id: id(9), exp: 0 }], 0).expect("fits");
    let (page, next) = store.since(0, 2, 0);
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [id(1), id(2)]
    );
    assert_eq!(next, 2);
    let (page, next) = store.since(next, 10, 0);
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        [id(3), id(4), id(5)]
    );
    assert_eq!(next, 5);
    let (page, next) = store.since(next, 10, 0);
    assert!(page.is_empty());
    assert_eq!(next, 5);
}

#[test]
fn since_skips_expired_entries() {
    let mut store = RevocationStore::new(100);
    store.insert(id(1), 10, 0).expect("fits");
    store.insert(id(2), 100, 0).expect("fits");
    let (page, next) = store.since(0, 10, 20);
    assert_eq!(
        page,
        [Entry {
            id: id(2),
            exp: 100
        }]
    );
    assert_eq!(next, 2);
}

#[test]
fn merge_keeps_the_later_expiry_skips_expired_and_reports_overflow() {
    let mut store = RevocationStore::new(2);
    store.insert(id(1), 50, 0).expect("fits");
    let added = store.merge(
        [
            Entry { id: id(1), exp: 80 },
            Entry { id: id(2), exp: 5 },
            Entry { id: id(3), exp: 90 },
        ],
        10,
    );
    assert_eq!(added, Ok(1));
    assert!(store.contains(&id(1), 70));
    assert!(!store.contains(&id(2), 0));
    assert_eq!(store.merge([Entry { id: id(4), exp: 0 }], 10), Err(Full(2)));
}

#[test]
fn live_lists_unexpired_entries_in_id_order() {
    let mut store = RevocationStore::new(10);
    store.insert(id(3), 0, 0).expect("fits");
    store.insert(id(1), 100, 0).expect("fits");
    store.insert(id(2), 10, 0).expect("fits");
    assert_eq!(
        store.live(20),
        [
            Entry {
                id: id(1),
                exp: 100
            },
            Entry { id: id(3), exp: 0 }
        ]
    );
}

#[test]
fn ids_round_trip_through_text_and_json_and_bad_text_is_refused() {
    let family = RevokedId::family([0xab; 16]);
    let text = family.to_string();
    assert_eq!(text, format!("f.{}", "ab".repeat(16)));
    assert_eq!(text.parse(), Ok(family));
    let entry = Entry { id: family, exp: 7 };
    let json = serde_json::to_string(&entry).expect("fits");
    assert_eq!(json, format!(r#"{{"id":"{text}","exp":7}}"#));
    assert_eq!(serde_json::from_str::<Entry>(&json).expect("json"), entry);
    for bad in [
        "",
        "x.00000000000000000000000000000000",
        "t.0000000000000000000000000000000",
        "t.0000000000000000000000000000000G",
        "t.AB000000000000000000000000000000",
        "t:00000000000000000000000000000000",
    ] {
        assert_eq!(bad.parse::<RevokedId>(), Err(BadId), "{bad}");
    }
}

#[test]
fn the_encoding_round_trips_and_refuses_other_bytes() {
    let entries = [
        Entry { id: id(1), exp: 0 },
        Entry {
            id: RevokedId::code([2; 16]),
            exp: u64::MAX,
        },
    ];
    let bytes = encode(&entries);
    assert_eq!(bytes.len(), 1 + 2 * ENCODED_ENTRY_LEN);
    assert_eq!(decode(&bytes), Ok(entries.to_vec()));
    assert_eq!(decode(&[]), Err(BadEncoding));
    assert_eq!(decode(&[2]), Err(BadEncoding));
    assert_eq!(decode(&bytes[..bytes.len() - 1]), Err(BadEncoding));
    let mut bad_kind = bytes.clone();
    bad_kind[1] = b'z';
    assert_eq!(decode(&bad_kind), Err(BadEncoding));
    assert_eq!(decode(&[1]), Ok(vec![]));
}

#[test]
fn a_full_store_encodes_inside_a_secret_and_refuses_more() {
    let mut store = RevocationStore::default();
    for n in 0..CAPACITY {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
        store
            .insert(RevokedId::token(bytes), u64::MAX, 0)
            .expect("fits");
    }
    assert_eq!(store.insert(id(0xff), 10, 0), Err(Full(CAPACITY)));
    let bytes = encode(&store.live(0));
    // A Secret holds 1 MiB, and the API server's request limits leave room for the rest.
    assert!(bytes.len() < 768 * 1024, "{} bytes", bytes.len());
    assert_eq!(decode(&bytes).map(|e| e.len()), Ok(CAPACITY));
}

#[test]
fn token_ids_depend_on_the_nonce_and_the_label() {
    assert_ne!(token_id(&[1; 24]), token_id(&[2; 24]));
    assert_eq!(token_id(&[1; 24]), token_id(&[1; 24]));
    assert_ne!(token_id(&[1; 24]), derive_id("another label", &[1; 24]));
}
