use tollgate_e2e::certs::{SecretVolume, der_of, generate};

use super::*;

/// A temporary directory removed at the end of the test.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "tollgate-https-certs-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_pair(dir: &Path, (cert, key): &(String, String)) -> Pair {
    std::fs::create_dir_all(dir).expect("dir");
    let pair = Pair {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
    };
    std::fs::write(&pair.cert, cert).expect("cert");
    std::fs::write(&pair.key, key).expect("key");
    pair
}

/// The end-entity certificate (DER) served for `name`.
fn served(certs: &HttpsCerts, name: Option<&str>) -> Vec<u8> {
    certs.current.load().pick(name).cert[0].to_vec()
}

#[test]
fn sni_picks_the_certificate_naming_the_host_and_the_default_otherwise() {
    let dir = Dir::new("pick");
    let default = generate(&["default.test"]);
    let api = generate(&["api.example.test", "API2.example.test"]);
    let wild = generate(&["*.apps.example.test"]);
    let default_pair = write_pair(&dir.0.join("default"), &default);
    let sni = dir.0.join("sni");
    write_pair(&sni.join("api"), &api);
    std::fs::write(sni.join("wild.crt"), &wild.0).expect("cert");
    std::fs::write(sni.join("wild.key"), &wild.1).expect("key");
    // The kubelet's own entries are not pairs.
    write_pair(&sni.join("..2026_12_05"), &generate(&["hidden.test"]));

    let certs = HttpsCerts::load(Some(default_pair), Some(&sni)).expect("load");
    assert_eq!(served(&certs, Some("api.example.test")), der_of(&api.0));
    assert_eq!(served(&certs, Some("api2.example.test")), der_of(&api.0));
    assert_eq!(served(&certs, Some("API.Example.Test")), der_of(&api.0));
    assert_eq!(served(&certs, Some("x.apps.example.test")), der_of(&wild.0));
    assert_eq!(
        served(&certs, Some("y.x.apps.example.test")),
        der_of(&default.0),
        "a wildcard covers one label"
    );
    assert_eq!(
        served(&certs, Some("apps.example.test")),
        der_of(&default.0)
    );
    assert_eq!(served(&certs, Some("hidden.test")), der_of(&default.0));
    assert_eq!(served(&certs, Some("unknown.test")), der_of(&default.0));
    assert_eq!(served(&certs, None), der_of(&default.0));
}

#[test]
fn a_secret_volume_swap_is_picked_up_and_a_bad_new_pair_keeps_the_old_one() {
    let dir = Dir::new("swap");
    let first = generate(&["localhost"]);
    let mut volume = SecretVolume::new(&dir.0.join("default"), &first);
    let pair = Pair {
        cert: volume.cert(),
        key: volume.key(),
    };
    let certs = HttpsCerts::load(Some(pair), None).expect("load");
    assert!(certs.follows_files());
    assert!(!certs.check(), "nothing changed");
    assert_eq!(served(&certs, None), der_of(&first.0));

    let second = generate(&["localhost"]);
    volume.update(&second);
    assert!(certs.check(), "the swap is seen");
    assert_eq!(served(&certs, None), der_of(&second.0));

    // A certificate with another certificate's key: refused, the second one keeps serving.
    let third = generate(&["localhost"]);
    volume.update(&(third.0.clone(), generate(&["localhost"]).1));
    assert!(!certs.check());
    assert_eq!(served(&certs, None), der_of(&second.0));
    // Half written: no key at all.
    volume.update(&(third.0.clone(), String::new()));
    assert!(!certs.check());
    assert_eq!(served(&certs, None), der_of(&second.0));
    // Fixed: served.
    volume.update(&third);
    assert!(certs.check());
    assert_eq!(served(&certs, None), der_of(&third.0));
}

#[test]
fn sni_pairs_added_changed_and_removed_are_followed() {
    let dir = Dir::new("follow");
    let sni = dir.0.join("sni");
    std::fs::create_dir_all(&sni).expect("sni dir");
    let certs = HttpsCerts::load(None, Some(&sni)).expect("load");
    let default = served(&certs, None);
    assert_eq!(served(&certs, Some("a.test")), default);

    let a = generate(&["a.test"]);
    write_pair(&sni.join("a"), &a);
    assert!(certs.check(), "a new pair");
    assert_eq!(served(&certs, Some("a.test")), der_of(&a.0));

    let a2 = generate(&["a.test"]);
    let mut volume = SecretVolume::new(&sni.join("b"), &generate(&["b.test"]));
    assert!(certs.check());
    volume.update(&generate(&["b.test", "c.test"]));
    assert!(certs.check());
    assert_ne!(served(&certs, Some("c.test")), default);

    std::fs::write(sni.join("a/tls.crt"), &a2.0).expect("rewrite cert");
    std::fs::write(sni.join("a/tls.key"), &a2.1).expect("rewrite key");
    assert!(certs.check(), "a pair written in place");
    assert_eq!(served(&certs, Some("a.test")), der_of(&a2.0));

    std::fs::remove_dir_all(sni.join("a")).expect("remove");
    assert!(certs.check(), "a removed pair");
    assert_eq!(served(&certs, Some("a.test")), default);
}

#[test]
fn a_pair_that_does_not_load_at_start_is_an_error_naming_it() {
    let dir = Dir::new("start");
    let sni = dir.0.join("sni");
    let (cert, _) = generate(&["a.test"]);
    let (_, other_key) = generate(&["a.test"]);
    write_pair(&sni.join("a"), &(cert, other_key));
    let err = HttpsCerts::load(None, Some(&sni)).expect_err("mismatched key");
    assert!(err.to_string().to_lowercase().contains("key"), "{err}");
}

#[test]
fn the_snapshots_certificates_come_before_the_files_and_the_files_answer_the_rest() {
    use tollgate_core::snapshot::{KeyPem, ServedCertificate};
    let dir = Dir::new("snapshot");
    let sni = dir.0.join("sni");
    let from_file = generate(&["a.test", "b.test"]);
    write_pair(&sni.join("ab"), &from_file);
    let certs = HttpsCerts::load(None, Some(&sni)).expect("load");
    let default = certs.pick(None).cert[0].to_vec();
    let state = Arc::new(ProxyState::new());
    certs.follow_snapshot(state.clone());
    // No snapshot yet: the files answer.
    assert_eq!(
        certs.pick(Some("a.test")).cert[0].to_vec(),
        der_of(&from_file.0)
    );

    let from_snapshot = generate(&["a.test", "*.c.test"]);
    let snapshot = crate::fixtures::SnapshotBuilder::quickstart()
        .with(|s| {
            s.certificates = vec![ServedCertificate {
                hosts: vec!["a.test".into(), "*.c.test".into()],
                chain_pem: from_snapshot.0.clone(),
                key_pem: KeyPem::new(from_snapshot.1.clone()),
                source: "Secret web/a".into(),
            }]
        })
        .build();
    state.apply(snapshot).expect("valid");
    let picked = |name: Option<&str>| certs.pick(name).cert[0].to_vec();
    assert_eq!(picked(Some("a.test")), der_of(&from_snapshot.0));
    assert_eq!(picked(Some("x.y.c.test")), der_of(&from_snapshot.0));
    assert_eq!(picked(Some("b.test")), der_of(&from_file.0));
    assert_eq!(picked(Some("other.test")), default);
    assert_eq!(picked(None), default);
}
