//! A fast non-keyed hasher for maps whose keys an attacker cannot choose: upstream addresses
//! from the config (the upstream pools), tokens that opened (the token cache).

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash (rustc's hasher): fast and not keyed, so only for keys an attacker cannot choose.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub type FxBuild = BuildHasherDefault<FxHasher>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use http::uri::Authority;

    use super::*;

    #[test]
    fn fx_hash_tells_endpoints_apart_and_ignores_authority_case() {
        let build = FxBuild::default();
        let key = |a: &'static str| build.hash_one(Authority::from_static(a));
        assert_eq!(key("Backend:80"), key("backend:80"));
        assert_ne!(key("backend:80"), key("backend:81"));
        assert_ne!(key("backend:80"), key("backend2:80"));
    }
}
