//! The config channel over TLS, end to end within one process: a real proxy (the library's
//! listeners) serving the channel with a certificate on disk, and the controller's push client.
//! The client talks only to a proxy presenting a certificate it trusts for the configured name;
//! a renewed certificate on disk is served without a restart.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tollgate_controller::operator::push_client::{ChannelTrust, Error, PushClient};
use tollgate_core::config_channel::ConfigToken;
use tollgate_proxy::{ProxyOptions, ProxyState};

const NAME: &str = "proxy-config.tollgate.svc";
const TOKEN: &str = "config-channel-test-token";

fn certificate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("certificate");
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

fn write(dir: &Path, (cert, key): &(String, String)) {
    // Key first, then the certificate: a reader seeing the new certificate sees its key.
    std::fs::write(dir.join("tls.key.tmp"), key).expect("key");
    std::fs::rename(dir.join("tls.key.tmp"), dir.join("tls.key")).expect("key");
    std::fs::write(dir.join("tls.crt.tmp"), cert).expect("cert");
    std::fs::rename(dir.join("tls.crt.tmp"), dir.join("tls.crt")).expect("cert");
}

fn trust(cert: &str, name: &str) -> Option<ChannelTrust> {
    ChannelTrust::new(cert.as_bytes(), name)
}

#[tokio::test]
async fn pushes_go_only_to_a_proxy_presenting_the_trusted_certificate_and_follow_its_renewal() {
    let dir = std::env::temp_dir().join(format!("tollgate-config-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let first = certificate(&[NAME]);
    write(&dir, &first);
    let options = ProxyOptions {
        http_addr: None,
        https_addr: None,
        config_token: ConfigToken::new(TOKEN),
        config_tls: Some((dir.join("tls.crt"), dir.join("tls.key"))),
        ..ProxyOptions::loopback()
    };
    let bound = tollgate_proxy::bind(options).await.expect("bind");
    let addr = bound.admin_addr().expect("admin").to_string();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(bound.serve(Arc::new(ProxyState::new()), async {
        let _ = stop_rx.await;
    }));
    let token = ConfigToken::new(TOKEN).expect("token");
    let timeout = Duration::from_secs(5);

    let client = PushClient::tls(timeout);
    assert!(matches!(
        client.current_hash(&addr, &token).await,
        Err(Error::NoTrust)
    ));
    // Trusting the proxy's certificate for its name: the exchange works (no config yet).
    assert!(client.set_trust(trust(&first.0, NAME)));
    assert_eq!(client.current_hash(&addr, &token).await.expect("hash"), "");
    // Another certificate for the same name (someone in the middle), or the right certificate
    // for another name: refused before anything is sent.
    let impostor = certificate(&[NAME]);
    client.set_trust(trust(&impostor.0, NAME));
    assert!(matches!(
        client.current_hash(&addr, &token).await,
        Err(Error::Tls(_))
    ));
    client.set_trust(trust(&first.0, "other.tollgate.svc"));
    assert!(matches!(
        client.current_hash(&addr, &token).await,
        Err(Error::Tls(_))
    ));
    // Plain HTTP to the TLS port gets nowhere.
    let plain = PushClient::new(timeout);
    assert!(plain.current_hash(&addr, &token).await.is_err());
    // A snapshot that does not validate is still refused over TLS (the channel changes nothing
    // else): 400 with reasons.
    client.set_trust(trust(&first.0, NAME));
    let refused = client
        .push(&addr, Bytes::from_static(b"{\"format\":1}"), &token, None)
        .await;
    assert!(
        matches!(refused, Err(Error::Rejected { .. })),
        "{refused:?}"
    );

    // The certificate is renewed on disk: the proxy serves the new one without a restart.
    let renewed = certificate(&[NAME]);
    write(&dir, &renewed);
    client.set_trust(trust(&renewed.0, NAME));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match client.current_hash(&addr, &token).await {
            Ok(hash) => {
                assert_eq!(hash, "");
                break;
            }
            // The proxy looks at the files at most once a second: poll until it has.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the renewed certificate was never served: {e}"),
        }
    }
    client.set_trust(trust(&first.0, NAME));
    assert!(matches!(
        client.current_hash(&addr, &token).await,
        Err(Error::Tls(_))
    ));

    let _ = stop_tx.send(());
    server.await.expect("join").expect("serve");
    let _ = std::fs::remove_dir_all(&dir);
}
