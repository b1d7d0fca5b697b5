use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect(s)
}

fn cidrs(list: &str) -> Vec<Cidr> {
    parse_cidrs(list).expect(list)
}

#[test]
fn cidrs_match_their_members_only() {
    let cases = [
        ("10.0.0.0/8", "10.1.2.3", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("127.0.0.1", "127.0.0.1", true),
        ("127.0.0.1", "127.0.0.2", false),
        ("0.0.0.0/0", "203.0.113.1", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("::1/128", "::1", true),
        ("fd00::/8", "fd12::1", true),
        ("fd00::/8", "fe80::1", false),
        ("10.0.0.0/8", "::ffff:10.0.0.1", true),
        ("10.0.0.0/8", "::10.0.0.1", true),
        ("::ffff:10.0.0.0/104", "10.9.9.9", true),
        ("::ffff:10.0.0.0/104", "11.0.0.1", false),
        ("::/0", "2001:db8::1", true),
    ];
    for (cidr, addr, expected) in cases {
        let cidr: Cidr = cidr.parse().expect(cidr);
        assert_eq!(cidr.contains(ip(addr)), expected, "{cidr} {addr}");
    }
}

#[test]
fn malformed_cidrs_are_refused() {
    for bad in [
        "10.0.0.0/33",
        "nope",
        "10.0.0.0/x",
        "::1/129",
        "10.0.0.0/",
        "10.0.0.0/+8",
        "",
    ] {
        assert!(bad.parse::<Cidr>().is_err(), "{bad}");
    }
    assert_eq!(
        parse_cidrs(" 10.0.0.0/8, ,127.0.0.1 ").map(|v| v.len()),
        Ok(2)
    );
}

#[test]
fn cidrs_display_in_their_canonical_form() {
    assert_eq!(cidrs("10.0.0.0/8")[0].to_string(), "10.0.0.0/8");
    assert_eq!(cidrs("::ffff:127.0.0.0/104")[0].to_string(), "127.0.0.0/8");
    assert_eq!(cidrs("fe80::1")[0].to_string(), "fe80::1/128");
}

#[test]
fn mapped_and_compatible_ipv6_addresses_are_judged_as_their_ipv4_address() {
    let cases = [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:169.254.169.254", "169.254.169.254"),
        ("::ffff:0.0.0.0", "0.0.0.0"),
        ("::127.0.0.1", "127.0.0.1"),
        ("::a9fe:a9fe", "169.254.169.254"),
        ("::1", "::1"),
        ("::", "::"),
        ("2001:db8::1", "2001:db8::1"),
        ("10.1.2.3", "10.1.2.3"),
    ];
    for (given, expected) in cases {
        assert_eq!(canonical(ip(given)), ip(expected), "{given}");
    }
}

#[test]
fn host_literals_are_read_in_every_spelling_the_resolver_accepts() {
    let cases = [
        ("127.0.0.1", Some("127.0.0.1")),
        ("127.1", Some("127.0.0.1")),
        ("127.0.1", Some("127.0.0.1")),
        ("2130706433", Some("127.0.0.1")),
        ("0177.0.0.1", Some("127.0.0.1")),
        ("0x7f.0.0.1", Some("127.0.0.1")),
        ("0x7f000001", Some("127.0.0.1")),
        ("0X7F.1", Some("127.0.0.1")),
        ("017700000001", Some("127.0.0.1")),
        ("2852039166", Some("169.254.169.254")),
        ("0xa9.0xfe.0xa9.0xfe", Some("169.254.169.254")),
        ("0251.0376.0251.0376", Some("169.254.169.254")),
        ("169.254.43518", Some("169.254.169.254")),
        ("0", Some("0.0.0.0")),
        ("0.0.0.0", Some("0.0.0.0")),
        ("127.0.0.1.", Some("127.0.0.1")),
        ("[::1]", Some("::1")),
        ("::1", Some("::1")),
        ("[::ffff:169.254.169.254]", Some("::ffff:169.254.169.254")),
        ("[fe80::1]", Some("fe80::1")),
        // Not literals: names, out-of-range values, bad digits.
        ("localhost", None),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.0.0.1", None),
        ("1.2.3.256", None),
        ("1.2.65536", None),
        ("4294967296", None),
        ("08.0.0.1", None),
        ("0x7g.0.0.1", None),
        ("1..1", None),
        ("", None),
        ("[localhost]", None),
        ("1e3", None),
    ];
    for (host, expected) in cases {
        assert_eq!(
            parse_host_ip(host),
            expected.map(ip),
            "{host:?} should read as {expected:?}"
        );
    }
}

#[test]
fn cluster_mode_refuses_loopback_link_local_and_unspecified_in_every_spelling() {
    let policy = AddressPolicy::cluster();
    let cases = [
        ("127.0.0.1", Err(Refusal::Loopback)),
        ("127.255.0.9", Err(Refusal::Loopback)),
        ("::1", Err(Refusal::Loopback)),
        ("::ffff:127.0.0.1", Err(Refusal::Loopback)),
        ("::127.0.0.1", Err(Refusal::Loopback)),
        ("169.254.169.254", Err(Refusal::LinkLocal)),
        ("::ffff:169.254.169.254", Err(Refusal::LinkLocal)),
        ("fe80::1", Err(Refusal::LinkLocal)),
        ("febf::1", Err(Refusal::LinkLocal)),
        ("0.0.0.0", Err(Refusal::Unspecified)),
        ("0.1.2.3", Err(Refusal::Unspecified)),
        ("::", Err(Refusal::Unspecified)),
        ("::ffff:0.0.0.0", Err(Refusal::Unspecified)),
        ("10.0.0.1", Ok(())),
        ("192.168.1.1", Ok(())),
        ("203.0.113.9", Ok(())),
        ("2001:db8::1", Ok(())),
        ("fec0::1", Ok(())),
        ("169.253.255.255", Ok(())),
        ("128.0.0.1", Ok(())),
    ];
    for (addr, expected) in cases {
        assert_eq!(policy.judge_ip(ip(addr)), expected, "{addr}");
    }
}

#[test]
fn literal_hosts_in_any_spelling_are_judged_as_the_address_they_name() {
    let policy = AddressPolicy::cluster();
    let cases = [
        ("2130706433", Refusal::Loopback),
        ("0177.0.0.1", Refusal::Loopback),
        ("0x7f.1", Refusal::Loopback),
        ("[::1]", Refusal::Loopback),
        ("[::ffff:127.0.0.1]", Refusal::Loopback),
        ("[::ffff:169.254.169.254]", Refusal::LinkLocal),
        ("2852039166", Refusal::LinkLocal),
        ("0", Refusal::Unspecified),
        ("0.0.0.0", Refusal::Unspecified),
        ("[::]", Refusal::Unspecified),
    ];
    for (host, expected) in cases {
        let addr = parse_host_ip(host).expect(host);
        assert_eq!(policy.judge_ip(addr), Err(expected), "{host}");
    }
}

#[test]
fn standalone_mode_allows_loopback_and_refuses_link_local() {
    let policy = AddressPolicy::standalone();
    let cases = [
        ("127.0.0.1", Ok(())),
        ("::1", Ok(())),
        ("::ffff:127.0.0.1", Ok(())),
        ("0.0.0.0", Ok(())),
        ("169.254.169.254", Err(Refusal::LinkLocal)),
        ("::ffff:169.254.169.254", Err(Refusal::LinkLocal)),
        ("fe80::1", Err(Refusal::LinkLocal)),
        ("10.0.0.1", Ok(())),
    ];
    for (addr, expected) in cases {
        assert_eq!(policy.judge_ip(ip(addr)), expected, "{addr}");
    }
}

#[test]
fn an_allow_list_entry_overrides_the_default_refusals_it_covers_only() {
    let policy = AddressPolicy::cluster().allow(cidrs("127.0.0.0/8,169.254.169.254/32"));
    let cases = [
        ("127.0.0.1", Ok(())),
        ("::ffff:127.0.0.1", Ok(())),
        ("169.254.169.254", Ok(())),
        ("169.254.169.253", Err(Refusal::LinkLocal)),
        ("::1", Err(Refusal::Loopback)),
        ("0.0.0.0", Err(Refusal::Unspecified)),
    ];
    for (addr, expected) in cases {
        assert_eq!(policy.judge_ip(ip(addr)), expected, "{addr}");
    }
}

#[test]
fn the_most_specific_list_entry_decides_and_deny_wins_a_tie() {
    let policy = AddressPolicy::cluster()
        .allow(cidrs("10.0.0.0/8,10.1.2.0/24,192.0.2.0/24"))
        .deny(cidrs("10.1.0.0/16,192.0.2.0/24,203.0.113.0/24"));
    let denied = |c: &str| Err(Refusal::Denied(c.parse().expect(c)));
    let cases = [
        ("10.9.9.9", Ok(())),
        ("10.1.9.9", denied("10.1.0.0/16")),
        ("10.1.2.3", Ok(())),
        ("192.0.2.1", denied("192.0.2.0/24")),
        ("203.0.113.5", denied("203.0.113.0/24")),
        ("::ffff:203.0.113.5", denied("203.0.113.0/24")),
        ("198.51.100.1", Ok(())),
    ];
    for (addr, expected) in cases {
        assert_eq!(policy.judge_ip(ip(addr)), expected, "{addr}");
    }
}

#[test]
fn the_proxys_own_listeners_are_refused_on_every_local_address_whatever_the_lists_say() {
    let listeners: Vec<SocketAddr> = ["[::]:8000", "[::]:8443", "127.0.0.1:8100", "10.0.0.5:9000"]
        .iter()
        .map(|a| a.parse().expect(a))
        .collect();
    let policy = AddressPolicy::standalone()
        .allow(cidrs("0.0.0.0/0,::/0"))
        .own_listeners(listeners);
    let sock = |s: &str| s.parse::<SocketAddr>().expect(s);
    let cases = [
        ("127.0.0.1:8100", Err(Refusal::OwnListener(8100))),
        ("127.0.0.2:8100", Err(Refusal::OwnListener(8100))),
        ("[::1]:8000", Err(Refusal::OwnListener(8000))),
        ("[::ffff:127.0.0.1]:8443", Err(Refusal::OwnListener(8443))),
        ("0.0.0.0:8100", Err(Refusal::OwnListener(8100))),
        ("10.0.0.5:9000", Err(Refusal::OwnListener(9000))),
        ("127.0.0.1:8080", Ok(())),
        ("10.0.0.6:9000", Ok(())),
        ("10.0.0.5:8100", Ok(())),
    ];
    for (addr, expected) in cases {
        assert_eq!(policy.judge(sock(addr)), expected, "{addr}");
    }
}

#[test]
fn a_connection_that_stayed_on_the_host_may_not_reach_an_own_listening_port() {
    let policy = AddressPolicy::cluster().own_listeners(["[::]:8100".parse().expect("addr")]);
    let sock = |s: &str| s.parse::<SocketAddr>().expect(s);
    let cases = [
        (
            "10.0.0.5:40000",
            "10.0.0.5:8100",
            Err(Refusal::OwnListener(8100)),
        ),
        (
            "[::ffff:10.0.0.5]:40000",
            "10.0.0.5:8100",
            Err(Refusal::OwnListener(8100)),
        ),
        ("10.0.0.5:40000", "10.0.0.6:8100", Ok(())),
        ("10.0.0.5:40000", "10.0.0.5:8080", Ok(())),
    ];
    for (local, peer, expected) in cases {
        assert_eq!(
            policy.judge_connected(sock(local), sock(peer)),
            expected,
            "{local} -> {peer}"
        );
    }
}

#[test]
fn listeners_on_port_zero_are_not_recorded() {
    let policy = AddressPolicy::standalone().own_listeners(["127.0.0.1:0".parse().expect("addr")]);
    assert_eq!(policy.judge("127.0.0.1:0".parse().expect("addr")), Ok(()));
}

#[test]
fn refusals_name_their_category() {
    assert_eq!(Refusal::LinkLocal.to_string(), "a link-local address");
    assert_eq!(
        Refusal::OwnListener(8100).to_string(),
        "the proxy's own listening port 8100"
    );
    assert_eq!(
        Refusal::Denied(cidrs("10.0.0.0/8")[0]).to_string(),
        "in the backend deny-list entry 10.0.0.0/8"
    );
    assert!(
        AddressPolicy::cluster()
            .allow(cidrs("10.0.0.0/8"))
            .describe()
            .contains("allow 10.0.0.0/8; deny none")
    );
}
