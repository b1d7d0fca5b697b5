//! Certificates for the HTTPS tests, shared by the end-to-end suites and the proxy's own unit
//! tests (a dev-dependency of `tollgate-proxy`): self-signed pairs, and a Secret volume written
//! the way the kubelet writes one.

use std::path::{Path, PathBuf};

/// A new self-signed certificate for `names`: (certificate PEM, key PEM).
pub fn generate(names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names).expect("generate");
    (generated.cert.pem(), generated.key_pair.serialize_pem())
}

/// The DER of the first certificate in `pem`.
pub fn der_of(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .expect("a certificate")
        .expect("pem")
        .to_vec()
}

/// A Secret volume as the kubelet writes it: `tls.crt -> ..data/tls.crt`, `..data ->
/// ..<version>`, a new version written beside the old one and `..data` swapped by a rename.
#[derive(Debug)]
pub struct SecretVolume {
    dir: PathBuf,
    version: u32,
}

impl SecretVolume {
    /// A volume in `dir` holding `pair` (certificate PEM, key PEM).
    pub fn new(dir: &Path, pair: &(String, String)) -> Self {
        std::fs::create_dir_all(dir).expect("volume");
        let mut volume = SecretVolume {
            dir: dir.to_owned(),
            version: 0,
        };
        volume.update(pair);
        for file in ["tls.crt", "tls.key"] {
            std::os::unix::fs::symlink(format!("..data/{file}"), dir.join(file)).expect("link");
        }
        volume
    }

    /// Writes `pair` as a new version and swaps `..data` to it in one rename.
    pub fn update(&mut self, (cert, key): &(String, String)) {
        self.version += 1;
        let name = format!("..2026_12_05_v{}", self.version);
        let target = self.dir.join(&name);
        std::fs::create_dir_all(&target).expect("version dir");
        std::fs::write(target.join("tls.crt"), cert).expect("cert");
        std::fs::write(target.join("tls.key"), key).expect("key");
        let tmp = self.dir.join("..data_tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&name, &tmp).expect("tmp link");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap");
    }

    /// `tls.crt` of the volume (a link through `..data`).
    pub fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    /// `tls.key` of the volume.
    pub fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
}
