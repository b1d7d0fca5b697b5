//! Writes seed corpora for the fuzz targets: real tokens issued by the shared key ring, real
//! token requests (form, JSON, Basic, the error cases), and real snapshots.
//!
//! `tollgate-fuzz-seeds DIR` writes `DIR/token_open/`, `DIR/token_request/`, `DIR/snapshot/`.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tollgate_core::ids::uuid_bytes;
use tollgate_core::oauth::claims_for;
use tollgate_core::secret::token_epoch;
use tollgate_core::snapshot::PluginConfig;
use tollgate_fuzz_seeds::{BOUND_PLUGIN, GLOBAL_PLUGIN, NOW, RequestParts, plugin, ring, snapshot};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .ok_or("usage: tollgate-fuzz-seeds DIR")?;
    let out = Path::new(&out);
    let snapshot = snapshot();
    let ring = ring(&snapshot).ok_or("the seed snapshot's keys are invalid")?;
    let credential = &snapshot.credentials[0];
    let id = uuid_bytes(&credential.id).ok_or("credential id is not a UUID")?;
    let epoch = token_epoch(
            credential.secret_verifier.as_deref(),
            &credential.consumer_id,
            &credential.incarnation,
        );

    let mut n = 0;
    for (issuer, scope, expiration) in [
        (GLOBAL_PLUGIN, None, 7200),
        (GLOBAL_PLUGIN, Some("read write"), 0),
        (BOUND_PLUGIN, Some("read"), 60),
    ] {
        let Some(PluginConfig::OAuth2(config)) = plugin(&snapshot, issuer).map(|p| &p.config)
        else {
            return Err(format!("{issuer} is not an oauth2 plugin").into());
        };
        let mut config = config.clone();
        config.token_expiration = expiration;
        let claims = claims_for(issuer, &config, id, epoch, scope, NOW - 10);
        let token = ring.issue(&claims, [n; 24])?;
        write(out, "token_open", &format!("token-{n}"), token.as_bytes())?;
        write(
            out,
            "token_open",
            &format!("token-{n}-half"),
            &token.as_bytes()[..token.len() / 2],
        )?;
        n += 1;
    }

    let basic = |raw: &str| format!("Basic {}", STANDARD.encode(raw)).into_bytes();
    let form = Some(b"application/x-www-form-urlencoded".to_vec());
    let json = Some(b"application/json".to_vec());
    let post = |content_type: &Option<Vec<u8>>, body: &[u8]| RequestParts {
        method: "POST",
        https: true,
        content_type: content_type.clone(),
        body: body.to_vec(),
        ..RequestParts::default()
    };
    let requests = [
        post(&form, b"grant_type=client_credentials&client_id=client&client_secret=secret"),
        post(&form, b"grant_type=client_credentials&client_id=client&client_secret=secret&scope=read+write&state=xyz"),
        post(&json, br#"{"grant_type":"client_credentials","client_id":"client","client_secret":"secret","scope":"read"}"#),
        RequestParts { authorization: Some(basic("client:secret")), ..post(&form, b"grant_type=client_credentials") },
        RequestParts { authorization: Some(basic("client%3A:s%25")), ..post(&form, b"grant_type=client_credentials&client_id=client") },
        RequestParts { query: Some(b"client_secret=secret".to_vec()), ..post(&form, b"grant_type=client_credentials&client_id=client") },
        RequestParts { https: false, forwarded_proto: 1, ..post(&form, b"grant_type=client_credentials&client_id=public-client") },
        RequestParts { method: "GET", query: Some(b"grant_type=client_credentials".to_vec()), ..post(&None, b"") },
        post(&form, b"grant_type=client_credentials&grant_type=password&client_id=%FF"),
    ];
    for (i, request) in requests.iter().enumerate() {
        write(
            out,
            "token_request",
            &format!("request-{i}"),
            &request.encode(),
        )?;
    }

    write(out, "snapshot", "quickstart.json", &snapshot.to_json())?;
    let mut minimal = snapshot.clone();
    minimal.routes.truncate(1);
    minimal
        .plugins
        .retain(|p| p.id == tollgate_fuzz_seeds::OIDC_PLUGIN);
    minimal.credentials.clear();
    write(out, "snapshot", "minimal.json", &minimal.to_json())?;
    write(
        out,
        "snapshot",
        "pretty.json",
        serde_json::to_string_pretty(&snapshot)?.as_bytes(),
    )?;
    let paths = [
        "/api",
        "/api/",
        "/api/x",
        "//api",
        "/./api",
        "/x/../api",
        "/%61pi",
        "/%2561pi",
        "/%2e/api",
        "/x/%2e%2e/api",
        "/api%2F",
        "/%2Fapi",
        "/api;x",
        "/api/..",
        "/auth/../x/oauth2/token",
        "/auth/%2e%2e/x/oauth2/token",
        "/auth%2Foauth2%2Ftoken",
        "/auth/oauth2/token",
        "/bound/x",
        "/caf\u{e9}/%C3%A9",
        "/a/b/c/../../../api",
    ];
    for (i, path) in paths.iter().enumerate() {
        write(out, "path", &format!("path-{i}"), path.as_bytes())?;
    }
    println!("seeds written to {}", out.display());
    Ok(())
}
