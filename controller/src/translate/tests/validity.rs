//! Whatever the objects hold, the translated snapshot passes the proxy's validation, and every
//! object left out has a problem: generated cases drawn from pools of valid and invalid values.

use std::sync::Arc;

use super::*;
use crate::resources::consumer::ConsumerSpec;

/// A small deterministic generator (xorshift64*), so a failing case is reproducible by its seed.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[(self.next() % pool.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const USERNAMES: &[&str] = &["jane", "joe", "", "a\u{7f}b", "tab\there", "ok name", "ünï"];
const CLIENT_IDS: &[&str] = &["client", "client", "other", "a b", "", "x\ny", "id-1"];
const SCOPES: &[&str] = &["read", "write", "a\"b", "", "x y", "ok:scope"];
const REALMS: &[&str] = &["service", "a\"b", "", "back\\slash", "ok realm"];
const PATHS: &[&str] = &["/", "/a", "/a/../b", "a", "//x", "/%zz", "/ok/", "/x%2Fy"];
const HOSTS: &[&str] = &[
    "example.com",
    "*.x.y",
    "a!b",
    "-x.com",
    "UPPER.com",
    "a..b",
    "*",
];
const METHODS: &[&str] = &["GET", "get", "G T", "POST", ""];
const URLS: &[&str] = &[
    "http://127.0.0.1:8080",
    "http://a!b/",
    "https://[::1]:443/x",
    "http://host:0/",
    "http://h:99999/",
    "ftp://x/",
    "http://_x_:80",
    "http://h/%zz",
    "http://user@h/",
    "http://h:80/a?b",
    "not a url",
];
const NAMES: &[&str] = &["a", "b", "c", "d"];

fn objects(draw: &mut Draw) -> Objects {
    let mut objects = Objects::default();
    for name in NAMES {
        if draw.chance(80) {
            let spec = ConsumerSpec {
                groups: Vec::new(),
                username: Some(draw.pick(USERNAMES).to_owned()),
                custom_id: draw.chance(30).then(|| draw.pick(USERNAMES).to_owned()),
            };
            objects.consumers.push(Arc::new(Consumer::new(name, spec)));
        }
        if draw.chance(80) {
            let secret_name = format!("{name}-secret");
            let client_id = draw.pick(CLIENT_IDS);
            let consumer = draw.pick(NAMES);
            objects.credentials.push(Arc::new(credential(
                name,
                consumer,
                client_id,
                &secret_name,
            )));
            objects
                .secrets
                .push(Arc::new(secret(&secret_name, "client_secret", PLAINTEXT)));
        }
        if draw.chance(70) {
            let mut plugin = if draw.chance(50) {
                oauth2_plugin(name)
            } else {
                oidc_plugin(name)
            };
            if let Some(settings) = plugin.spec.oauth2.as_mut() {
                settings.scopes = (0..draw.next() % 3)
                    .map(|_| draw.pick(SCOPES).to_owned())
                    .collect();
                settings.mandatory_scope = draw.chance(20);
                settings.realm = draw.chance(30).then(|| draw.pick(REALMS).to_owned());
                settings.anonymous = draw.chance(20).then(|| draw.pick(NAMES).to_owned());
            }
            if let Some(settings) = plugin.spec.openid_connect.as_mut() {
                settings.realm = draw.chance(30).then(|| draw.pick(REALMS).to_owned());
                settings.anonymous = draw.chance(20).then(|| draw.pick(NAMES).to_owned());
            }
            objects.plugins.push(Arc::new(plugin));
        }
        if draw.chance(90) {
            let plugin = draw.pick(NAMES);
            let mut route = route(
                name,
                draw.pick(PATHS),
                plugin,
                Some(url_backend(draw.pick(URLS))),
            );
            if draw.chance(40) {
                route.spec.hosts = vec![draw.pick(HOSTS).to_owned()];
            }
            if draw.chance(40) {
                route.spec.methods = vec![draw.pick(METHODS).to_owned()];
            }
            if draw.chance(20) {
                route.spec.plugins.clear();
            }
            objects.routes.push(Arc::new(route));
        }
    }
    objects
}

#[test]
fn any_translated_snapshot_passes_the_proxy_validation_and_every_object_left_out_has_a_problem() {
    let mut left_out = 0;
    for seed in 1..=400u64 {
        let mut draw = Draw(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let objects = objects(&mut draw);
        let t = run(&objects);
        assert_eq!(
            tollgate_core::validate::validate(&t.snapshot),
            Ok(()),
            "seed {seed}: {objects:?}\nproblems: {:#?}",
            t.problems
        );
        let served = served(&t);
        let mut every = Vec::new();
        every.extend(
            objects
                .consumers
                .iter()
                .map(|o| (Kind::Consumer, "Consumer", o.name_any())),
        );
        every.extend(
            objects
                .credentials
                .iter()
                .map(|o| (Kind::OAuth2Credential, "OAuth2Credential", o.name_any())),
        );
        every.extend(
            objects
                .plugins
                .iter()
                .map(|o| (Kind::AuthPlugin, "AuthPlugin", o.name_any())),
        );
        every.extend(
            objects
                .routes
                .iter()
                .map(|o| (Kind::GatewayRoute, "GatewayRoute", o.name_any())),
        );
        for (kind, label, name) in every {
            let is_served = served.contains(&format!("{label}/default/{name}"));
            let has_problem = !t.includes(kind, "default", &name);
            assert!(
                is_served != has_problem,
                "seed {seed}: {label}/{name} served {is_served}, problem {has_problem}: {:#?}",
                t.problems
            );
            left_out += usize::from(has_problem);
        }
    }
    assert!(
        left_out > 100,
        "the pools produce invalid objects ({left_out} left out)"
    );
}
