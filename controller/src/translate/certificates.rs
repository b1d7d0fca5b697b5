//! TLS Secrets → the certificates the proxy serves by SNI (`Snapshot::certificates`). One
//! reading for Gateway HTTPS listeners and Ingress `spec.tls`:
//!
//! - [`from_tls_secret`] checks a `kubernetes.io/tls` Secret with the proxy's own parser
//!   (`tollgate_core::certificate::parse`), so a certificate the translation names never makes
//!   the proxy refuse a snapshot; its served names default to the certificate's DNS names;
//! - [`named_tls_secret`] finds the Secret a listener or an Ingress names, or says why it cannot
//!   be read (missing, unlabelled, unreadable), with the fix;
//! - [`named_certificate_secrets`] lists the Secrets listeners and Ingresses name, which the
//!   operator reads one by one when they exist without the `tollgate.dev/secret` label;
//! - [`CertificateSet`] gathers them, one per Secret, each name served by the first Secret to
//!   claim it (callers claim in a stable order: oldest object first).
//!
//! Messages name the Secret and the part, never key material.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use tollgate_core::certificate::{MAX_CERTIFICATE_HOSTS, MAX_CERTIFICATES, is_valid_sni_host};
use tollgate_core::snapshot::{KeyPem, ServedCertificate};

use super::ObjectName;
use super::secrets::{CertificateReads, SecretAccess, value};
use crate::resources::SECRET_LABEL;

/// The Secret type of TLS Secrets.
pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// `Secret <namespace>/<name>`: a served certificate's `source`.
pub fn source_of(namespace: &str, name: &str) -> String {
    format!("Secret {namespace}/{name}")
}

/// Where certificate Secrets are found: the Secrets given (labelled ones in a cluster, every one
/// in standalone mode), then the unlabelled ones the operator read by name.
#[derive(Clone, Copy)]
pub(crate) struct TlsSecrets<'a> {
    pub secrets: &'a [Arc<Secret>],
    pub access: &'a SecretAccess,
    pub reads: &'a CertificateReads,
}

/// Why a named certificate Secret is not there to read, with a message naming the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// It does not exist.
    Missing(String),
    /// It exists without the label and was not read (the operator reads those it is given
    /// names of; this is the fallback when it was not).
    Unlabelled(String),
    /// It exists without the label and the operator's `get` of it was refused or failed.
    Unreadable(String),
}

impl Unresolved {
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Missing(m) | Self::Unlabelled(m) | Self::Unreadable(m) => m,
        }
    }
}

/// The Secret `namespace/name` that a Gateway listener's `certificateRefs` or an Ingress's
/// `spec.tls` names (the caller checked the reference is allowed), whatever its labels.
pub(crate) fn named_tls_secret<'a>(
    from: &TlsSecrets<'a>,
    namespace: &str,
    name: &str,
) -> Result<&'a Secret, Unresolved> {
    let given = from.secrets.iter().find(|s| {
        let at = ObjectName::of(s.as_ref());
        at.namespace == namespace && at.name == name
    });
    if let Some(secret) = given {
        return Ok(secret);
    }
    let key = format!("{namespace}/{name}");
    if let Some(secret) = from.reads.read.get(&key) {
        return Ok(secret);
    }
    if let Some(message) = from.reads.unreadable.get(&key) {
        return Err(Unresolved::Unreadable(message.clone()));
    }
    match from.access {
        SecretAccess::LabelledKnowing(unlabelled) if unlabelled.contains(&key) => {
            Err(Unresolved::Unlabelled(format!(
                "Secret {key} exists without the label {SECRET_LABEL} and was not read: add the \
                 label (kubectl label secret -n {namespace} {name} {SECRET_LABEL}=certificate)"
            )))
        }
        _ => Err(Unresolved::Missing(format!("Secret {key} does not exist"))),
    }
}

/// The certificate Secrets (`namespace/name`) that Tollgate's Gateways' listeners (through the
/// same-namespace rule or a ReferenceGrant) and Tollgate's Ingresses (`spec.tls`, in the
/// Ingress's namespace) name. Bounded by what those objects name.
pub fn named_certificate_secrets(
    gateway: &super::gateway_api::GatewayObjects,
    ingress: &super::ingress::IngressObjects,
) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    super::gateway_api::certificate_secret_names(gateway, &mut names);
    super::ingress::certificate_secret_names(ingress, &mut names);
    names
}

/// A `kubernetes.io/tls` Secret as a served certificate whose hosts are its leaf's DNS names
/// (callers narrow them to a listener's hostname or an Ingress rule's hosts). `Err` is the
/// message of an `InvalidCertificateRef`-like problem: not a TLS Secret, a missing key, or a
/// chain and key the proxy could not serve.
pub fn from_tls_secret(secret: &Secret) -> Result<ServedCertificate, String> {
    let at = ObjectName::of(secret);
    let source = source_of(&at.namespace, &at.name);
    if secret.type_.as_deref() != Some(TLS_SECRET_TYPE) {
        return Err(format!(
            "{source} is of type {:?}, not {TLS_SECRET_TYPE}",
            secret.type_.as_deref().unwrap_or("Opaque")
        ));
    }
    let text = |key: &str| -> Result<String, String> {
        match value(secret, key) {
            None => Err(format!("{source} has no {key}")),
            Some([]) => Err(format!("{source} has an empty {key}")),
            Some(bytes) => String::from_utf8(bytes.to_vec())
                .map_err(|_| format!("{source}: {key} is not PEM text")),
        }
    };
    let chain_pem = text("tls.crt")?;
    let key_pem = KeyPem::new(text("tls.key")?);
    let parsed = tollgate_core::certificate::parse(&chain_pem, key_pem.expose())
        .map_err(|e| format!("{source}: {e}"))?;
    let mut hosts: Vec<String> = parsed
        .dns_names
        .into_iter()
        .filter(|n| is_valid_sni_host(n))
        .collect();
    hosts.sort();
    hosts.dedup();
    Ok(ServedCertificate {
        hosts,
        chain_pem,
        key_pem,
        source,
    })
}

/// The hosts a certificate serves for a listener (or Ingress rule) hostname: each of its names
/// the hostname covers, as the more specific of the two (`*.example.com` on a listener of
/// `a.example.com` serves `a.example.com`); when it names none of them, the hostname itself (a
/// client checking names then refuses it, as it would any certificate of another name).
pub fn hosts_for(certificate_names: &[String], hostname: &str) -> Vec<String> {
    let mut hosts: Vec<String> = certificate_names
        .iter()
        .filter_map(|n| super::gateway_api::intersect(Some(hostname), Some(n)).flatten())
        .collect();
    if hosts.is_empty() {
        hosts.push(hostname.to_owned());
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Served certificates being gathered: one per Secret, each host claimed once.
#[derive(Debug, Default)]
pub struct CertificateSet {
    by_source: BTreeMap<String, ServedCertificate>,
    /// Host → the source serving it.
    claimed: BTreeMap<String, String>,
}

/// Hosts a certificate could not claim: each with the source that serves it.
pub type Taken = Vec<(String, String)>;

impl CertificateSet {
    /// Serves `certificate` for its hosts that no other Secret's certificate serves yet (a
    /// Secret added again gains the new hosts). Returns the hosts another Secret keeps, or
    /// `Err` when the snapshot already serves as many certificates as it may.
    pub fn add(&mut self, certificate: ServedCertificate) -> Result<Taken, String> {
        if !self.by_source.contains_key(&certificate.source)
            && self.by_source.len() >= MAX_CERTIFICATES
        {
            return Err(format!(
                "{}: the gateway serves {MAX_CERTIFICATES} certificates already",
                certificate.source
            ));
        }
        let mut taken = Vec::new();
        let mut hosts = Vec::new();
        for host in &certificate.hosts {
            match self.claimed.get(host) {
                Some(other) if *other != certificate.source => {
                    taken.push((host.clone(), other.clone()));
                }
                Some(_) => {}
                None => hosts.push(host.clone()),
            }
        }
        let entry = self
            .by_source
            .entry(certificate.source.clone())
            .or_insert_with(|| ServedCertificate {
                hosts: Vec::new(),
                ..certificate
            });
        for host in hosts {
            if entry.hosts.len() >= MAX_CERTIFICATE_HOSTS {
                break;
            }
            self.claimed.insert(host.clone(), entry.source.clone());
            entry.hosts.push(host);
        }
        Ok(taken)
    }

    /// The snapshot's certificates, sorted by source, hosts sorted; a Secret left with no host
    /// is not served.
    pub fn into_snapshot(self) -> Vec<ServedCertificate> {
        self.by_source
            .into_values()
            .filter(|c| !c.hosts.is_empty())
            .map(|mut c| {
                c.hosts.sort();
                c
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    pub(crate) fn tls_secret(namespace: &str, name: &str, names: &[&str]) -> Secret {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let generated = rcgen::generate_simple_self_signed(names).expect("generate");
        Secret {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                ..Default::default()
            },
            type_: Some(TLS_SECRET_TYPE.into()),
            data: Some(BTreeMap::from([
                (
                    "tls.crt".into(),
                    ByteString(generated.cert.pem().into_bytes()),
                ),
                (
                    "tls.key".into(),
                    ByteString(generated.key_pair.serialize_pem().into_bytes()),
                ),
            ])),
            ..Default::default()
        }
    }

    #[test]
    fn a_tls_secret_serves_its_certificate_names() {
        let secret = tls_secret("web", "site", &["b.example.test", "a.example.test"]);
        let served = from_tls_secret(&secret).expect("usable");
        assert_eq!(served.source, "Secret web/site");
        assert_eq!(served.hosts, ["a.example.test", "b.example.test"]);
        assert!(!format!("{served:?}").contains("PRIVATE KEY"));
    }

    #[test]
    fn an_unusable_secret_says_why_without_its_key() {
        let good = tls_secret("web", "site", &["a.example.test"]);
        let other = tls_secret("web", "other", &["a.example.test"]);
        let key = |s: &Secret| s.data.as_ref().expect("data")["tls.key"].clone();
        let mut opaque = good.clone();
        opaque.type_ = Some("Opaque".into());
        let mut no_key = good.clone();
        no_key.data.as_mut().expect("data").remove("tls.key");
        let mut mismatched = good.clone();
        mismatched
            .data
            .as_mut()
            .expect("data")
            .insert("tls.key".into(), key(&other));
        let cases = [
            (
                opaque,
                "Secret web/site is of type \"Opaque\", not kubernetes.io/tls",
            ),
            (no_key, "Secret web/site has no tls.key"),
            (
                mismatched,
                "Secret web/site: the private key does not belong to the leaf certificate",
            ),
        ];
        for (secret, want) in cases {
            let message = from_tls_secret(&secret).expect_err(want);
            assert_eq!(message, want);
        }
    }

    #[test]
    fn a_listener_hostname_narrows_the_certificate_names() {
        let names = vec!["*.example.test".to_owned(), "other.test".to_owned()];
        assert_eq!(hosts_for(&names, "a.example.test"), ["a.example.test"]);
        assert_eq!(hosts_for(&names, "*.example.test"), ["*.example.test"]);
        assert_eq!(
            hosts_for(&["x.example.test".to_owned()], "*.example.test"),
            ["x.example.test"]
        );
        assert_eq!(hosts_for(&names, "mismatch.test"), ["mismatch.test"]);
    }

    #[test]
    fn the_first_secret_keeps_a_name_and_a_secret_gathers_its_names() {
        let mut set = CertificateSet::default();
        let a = from_tls_secret(&tls_secret("web", "a", &["a.example.test"])).expect("a");
        let b = from_tls_secret(&tls_secret(
            "web",
            "b",
            &["a.example.test", "b.example.test"],
        ))
        .expect("b");
        assert_eq!(set.add(a.clone()), Ok(Vec::new()));
        assert_eq!(
            set.add(b),
            Ok(vec![("a.example.test".into(), "Secret web/a".into())])
        );
        let again = ServedCertificate {
            hosts: vec!["c.example.test".into(), "a.example.test".into()],
            ..a
        };
        assert_eq!(set.add(again), Ok(Vec::new()));
        let served = set.into_snapshot();
        let summary: Vec<(&str, Vec<&str>)> = served
            .iter()
            .map(|c| {
                (
                    c.source.as_str(),
                    c.hosts.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("Secret web/a", vec!["a.example.test", "c.example.test"]),
                ("Secret web/b", vec!["b.example.test"]),
            ]
        );
    }
}
