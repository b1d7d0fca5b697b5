use super::*;

/// A new self-signed certificate for `names`: (certificate PEM, key PEM).
fn generate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate");
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

#[test]
fn a_certificate_and_its_key_parse_with_the_names_of_the_leaf() {
    let (chain, key) = generate(&["a.example.test", "*.b.example.test", "Upper.Example.Test"]);
    let parsed = parse(&chain, &key).expect("parses");
    assert_eq!(
        parsed.dns_names,
        ["a.example.test", "*.b.example.test", "upper.example.test"]
    );
    assert_eq!(parsed.key.cert.len(), 1);
    let shown = format!("{parsed:?}");
    assert!(!shown.contains("PRIVATE"), "{shown}");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (chain, _) = generate(&["a.example.test"]);
    let (_, other_key) = generate(&["a.example.test"]);
    assert_eq!(
        parse(&chain, &other_key).map(|_| ()),
        Err(CertificateError::KeyMismatch)
    );
}

#[test]
fn every_broken_part_is_refused_without_quoting_the_key() {
    let (chain, key) = generate(&["a.example.test"]);
    let garbled_key = key.replace("MI", "!!");
    let cases: Vec<(&str, String, String, CertificateError)> = vec![
        (
            "no certificate",
            String::new(),
            key.clone(),
            CertificateError::NoCertificate,
        ),
        (
            "a key where the chain goes",
            key.clone(),
            key.clone(),
            CertificateError::NoCertificate,
        ),
        (
            "bad base64",
            chain.replace("MI", "!!"),
            key.clone(),
            CertificateError::BadChainPem,
        ),
        (
            "not X.509",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            key.clone(),
            CertificateError::BadLeaf(String::new()),
        ),
        (
            "no key",
            chain.clone(),
            String::new(),
            CertificateError::NoKey,
        ),
        (
            "garbled key",
            chain.clone(),
            garbled_key.clone(),
            CertificateError::NoKey,
        ),
        (
            "a certificate where the key goes",
            chain.clone(),
            chain.clone(),
            CertificateError::NoKey,
        ),
        (
            "huge chain",
            chain.repeat(MAX_CHAIN_PEM_BYTES / chain.len() + 1),
            key.clone(),
            CertificateError::ChainTooLarge,
        ),
        (
            "long chain",
            chain.repeat(MAX_CHAIN_LEN + 1),
            key.clone(),
            CertificateError::ChainTooLong,
        ),
        (
            "huge key",
            chain.clone(),
            format!("{key}{}", " ".repeat(MAX_KEY_PEM_BYTES)),
            CertificateError::KeyTooLarge,
        ),
    ];
    for (what, chain, key_pem, want) in cases {
        let got = parse(&chain, &key_pem).map(|_| ()).expect_err(what);
        match (&got, &want) {
            (CertificateError::BadLeaf(_), CertificateError::BadLeaf(_)) => {}
            _ => assert_eq!(got, want, "{what}"),
        }
        let message = got.to_string();
        for line in key.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!message.contains(line), "{what}: {message}");
        }
    }
}

#[test]
fn a_chain_with_an_intermediate_keeps_every_certificate() {
    let (leaf, key) = generate(&["a.example.test"]);
    let (other, _) = generate(&["ca.example.test"]);
    let parsed = parse(&format!("{leaf}{other}"), &key).expect("parses");
    assert_eq!(parsed.key.cert.len(), 2);
}

#[test]
fn sni_hosts_are_lower_case_names_or_wildcards() {
    for ok in ["a.example.test", "*.example.test", "localhost"] {
        assert!(is_valid_sni_host(ok), "{ok}");
    }
    for bad in ["A.example.test", "", "*", "a..b", "a b", "*.*.example.test"] {
        assert!(!is_valid_sni_host(bad), "{bad}");
    }
}

#[test]
fn the_table_answers_exact_names_first_then_the_longest_wildcard() {
    let mut table = SniTable::default();
    assert!(table.is_empty());
    assert!(table.insert("a.example.test", "exact"));
    assert!(table.insert("*.example.test", "short wildcard"));
    assert!(table.insert("*.b.example.test", "long wildcard"));
    assert!(
        !table.insert("a.example.test", "second"),
        "first claim keeps a name"
    );
    assert!(!table.insert("*.example.test", "second"));
    let cases = [
        ("a.example.test", Some("exact")),
        ("A.Example.TEST.", Some("exact")),
        ("c.example.test", Some("short wildcard")),
        ("x.a.example.test", Some("short wildcard")),
        ("x.b.example.test", Some("long wildcard")),
        ("y.x.b.example.test", Some("long wildcard")),
        ("b.example.test", Some("short wildcard")),
        ("example.test", None),
        (".example.test", None),
        ("other.test", None),
        ("", None),
    ];
    for (name, want) in cases {
        assert_eq!(table.pick(name).copied(), want, "{name}");
    }
    let long = "a".repeat(300);
    assert_eq!(table.pick(&long), None);
}
