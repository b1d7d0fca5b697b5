//! Certificates served by SNI ([`crate::snapshot::ServedCertificate`]): parsing and checking a
//! PEM chain and its private key, and choosing one by server name.
//!
//! One definition for every place that reads them: the controller checks a TLS Secret with
//! [`parse`] before it puts it in a snapshot, [`crate::validate`] refuses a snapshot whose
//! certificate does not parse, and the proxy compiles the certificates it serves with the same
//! function once per snapshot (never per handshake).
//!
//! A certificate parses when its chain is PEM `CERTIFICATE` blocks (the leaf first, at most
//! [`MAX_CHAIN_LEN`]), the leaf is an X.509 certificate, the key is one PEM private key (PKCS#8,
//! PKCS#1 RSA or SEC1 EC: what `kubectl create secret tls` and cert-manager write) of a kind
//! rustls signs with (RSA, ECDSA P-256/P-384, Ed25519), and the key's public half is the
//! leaf's. Errors never quote the key.

use std::collections::HashMap;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

/// Most certificates a snapshot serves by SNI.
pub const MAX_CERTIFICATES: usize = 1024;
/// Most server names one certificate answers.
pub const MAX_CERTIFICATE_HOSTS: usize = 256;
/// Largest PEM chain (a leaf and a few intermediates are a few kilobytes).
pub const MAX_CHAIN_PEM_BYTES: usize = 64 * 1024;
/// Largest PEM private key (an RSA 8192 key is about 6.5 kB).
pub const MAX_KEY_PEM_BYTES: usize = 16 * 1024;
/// Most certificates in a chain.
pub const MAX_CHAIN_LEN: usize = 8;

/// Why a certificate and key cannot be served. The messages name the part, never its content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate chain is larger than {} bytes", MAX_CHAIN_PEM_BYTES)]
    ChainTooLarge,
    #[error("the private key is larger than {} bytes", MAX_KEY_PEM_BYTES)]
    KeyTooLarge,
    #[error("the certificate chain is not valid PEM")]
    BadChainPem,
    #[error("the certificate chain holds no PEM CERTIFICATE block")]
    NoCertificate,
    #[error("the certificate chain holds more than {} certificates", MAX_CHAIN_LEN)]
    ChainTooLong,
    #[error("the leaf certificate is not a valid X.509 certificate ({0})")]
    BadLeaf(String),
    #[error(
        "the private key is not one PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC PRIVATE KEY)"
    )]
    NoKey,
    #[error("the private key is not an RSA, ECDSA (P-256, P-384) or Ed25519 key")]
    UnsupportedKey,
    #[error("the private key does not belong to the leaf certificate")]
    KeyMismatch,
}

/// A certificate ready to serve: what rustls signs handshakes with, and the DNS names of the
/// leaf's subject alternative names (lower case, wildcards as `*.example.com`).
#[derive(Clone)]
pub struct Parsed {
    pub key: Arc<CertifiedKey>,
    pub dns_names: Vec<String>,
}

impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parsed")
            .field("chain_len", &self.key.cert.len())
            .field("dns_names", &self.dns_names)
            .finish_non_exhaustive()
    }
}

/// Parses and checks a PEM chain and its private key (see the module doc).
pub fn parse(chain_pem: &str, key_pem: &str) -> Result<Parsed, CertificateError> {
    if chain_pem.len() > MAX_CHAIN_PEM_BYTES {
        return Err(CertificateError::ChainTooLarge);
    }
    if key_pem.len() > MAX_KEY_PEM_BYTES {
        return Err(CertificateError::KeyTooLarge);
    }
    let mut chain: Vec<CertificateDer<'static>> = Vec::new();
    for item in rustls_pemfile::certs(&mut chain_pem.as_bytes()) {
        let cert = item.map_err(|_| CertificateError::BadChainPem)?;
        if chain.len() == MAX_CHAIN_LEN {
            return Err(CertificateError::ChainTooLong);
        }
        chain.push(cert);
    }
    let Some(leaf) = chain.first() else {
        return Err(CertificateError::NoCertificate);
    };
    let dns_names = match webpki::EndEntityCert::try_from(leaf) {
        Ok(parsed) => parsed
            .valid_dns_names()
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        Err(e) => return Err(CertificateError::BadLeaf(format!("{e:?}"))),
    };
    // The key reader's own errors are not passed on: they could quote the file.
    let key = match rustls_pemfile::private_key(&mut key_pem.as_bytes()) {
        Ok(Some(key)) => key,
        Ok(None) | Err(_) => return Err(CertificateError::NoKey),
    };
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| CertificateError::UnsupportedKey)?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(CertificateError::KeyMismatch);
        }
        Err(rustls::Error::InconsistentKeys(_)) => return Err(CertificateError::UnsupportedKey),
        Err(e) => return Err(CertificateError::BadLeaf(e.to_string())),
    }
    Ok(Parsed {
        key: Arc::new(certified),
        dns_names,
    })
}

/// Whether `host` is a name a served certificate may answer: a lower-case DNS name or a `*.`
/// wildcard (see [`crate::routing::is_valid_host`]).
pub fn is_valid_sni_host(host: &str) -> bool {
    crate::routing::is_valid_host(host) && !host.bytes().any(|b| b.is_ascii_uppercase())
}

/// Server names → what answers them: exact names first, then the longest `*.` wildcard covering
/// the name (`*.example.com` covers `a.example.com` and `a.b.example.com`, not `example.com`,
/// as a Gateway listener's hostname does). A name is claimed once: the first insert keeps it.
#[derive(Clone, Debug)]
pub struct SniTable<T> {
    exact: HashMap<String, T>,
    /// By suffix with its leading dot (`.example.com` for `*.example.com`).
    wildcard: HashMap<String, T>,
}

impl<T> Default for SniTable<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
        }
    }
}

/// Longest server name looked up (a DNS name is at most 253 characters).
const MAX_NAME_LEN: usize = 255;

impl<T> SniTable<T> {
    /// Adds `host` (lower case, exact or `*.suffix`); false when it was already claimed.
    pub fn insert(&mut self, host: &str, value: T) -> bool {
        let (table, key) = match host.strip_prefix('*') {
            Some(suffix) => (&mut self.wildcard, suffix),
            None => (&mut self.exact, host),
        };
        if table.contains_key(key) {
            return false;
        }
        table.insert(key.to_owned(), value);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcard.is_empty()
    }

    /// What answers `server_name` (any case, a trailing dot ignored), if anything does.
    /// Allocation-free.
    pub fn pick(&self, server_name: &str) -> Option<&T> {
        let name = server_name.strip_suffix('.').unwrap_or(server_name);
        let mut buf = [0u8; MAX_NAME_LEN];
        let slot = buf.get_mut(..name.len())?;
        for (dst, src) in slot.iter_mut().zip(name.bytes()) {
            *dst = src.to_ascii_lowercase();
        }
        let name = std::str::from_utf8(slot).ok()?;
        if let Some(found) = self.exact.get(name) {
            return Some(found);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // Suffixes start at a dot after the first character, longest first.
        name.match_indices('.')
            .filter(|(i, _)| *i > 0)
            .find_map(|(i, _)| self.wildcard.get(&name[i..]))
    }
}

#[cfg(test)]
#[path = "certificate_tests.rs"]
mod tests;
