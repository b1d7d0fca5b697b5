//! Which object generations each recent snapshot contains, so `Programmed` can be decided per
//! object: true once every proxy replica acknowledged a snapshot containing the object's current
//! generation. Keeping a short history (not only the newest hash) means an unrelated change does
//! not flip every other object back to `Pending` while the new snapshot is on its way.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

pub use crate::translate::Kind;

/// One object: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The objects (with the generation they were built from) that one snapshot serves.
pub type Contents = BTreeMap<ObjectKey, i64>;

/// The last few snapshots by hash.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    order: VecDeque<String>,
    by_hash: HashMap<String, Arc<Contents>>,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            by_hash: HashMap::new(),
        }
    }

    /// Records the contents of the snapshot with `hash` (newest last; the oldest falls out).
    pub fn record(&mut self, hash: &str, contents: Contents) {
        if self.by_hash.contains_key(hash) {
            self.order.retain(|h| h != hash);
        }
        self.order.push_back(hash.to_owned());
        self.by_hash.insert(hash.to_owned(), Arc::new(contents));
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.by_hash.remove(&old);
            }
        }
    }

    /// Whether every proxy (its acknowledged hash, `None` when it holds nothing known) serves
    /// `generation` of `key`. False when no proxy is known: nothing serves the object then.
    pub fn programmed(&self, key: &ObjectKey, generation: i64, acked: &[Option<String>]) -> bool {
        !acked.is_empty()
            && acked.iter().all(|hash| {
                hash.as_ref()
                    .and_then(|h| self.by_hash.get(h))
                    .and_then(|contents| contents.get(key))
                    == Some(&generation)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new(Kind::GatewayRoute, "ns", name)
    }

    #[test]
    fn an_object_is_programmed_only_when_every_replica_holds_its_generation() {
        let mut h = History::new(4);
        h.record("h1", Contents::from([(key("a"), 1)]));
        h.record("h2", Contents::from([(key("a"), 1), (key("b"), 1)]));
        let both_new = [Some("h2".to_owned()), Some("h2".to_owned())];
        let one_old = [Some("h1".to_owned()), Some("h2".to_owned())];
        let one_empty = [None, Some("h2".to_owned())];
        assert!(h.programmed(&key("a"), 1, &both_new));
        assert!(
            h.programmed(&key("a"), 1, &one_old),
            "a is in both snapshots"
        );
        assert!(
            !h.programmed(&key("b"), 1, &one_old),
            "b is only in the newer one"
        );
        assert!(!h.programmed(&key("a"), 1, &one_empty));
        assert!(
            !h.programmed(&key("a"), 2, &both_new),
            "a newer generation is not served yet"
        );
        assert!(
            !h.programmed(&key("a"), 1, &[]),
            "no replica serves nothing"
        );
    }

    #[test]
    fn history_forgets_the_oldest_snapshots() {
        let mut h = History::new(2);
        for hash in ["h1", "h2", "h3"] {
            h.record(hash, Contents::from([(key("a"), 1)]));
        }
        assert!(!h.programmed(&key("a"), 1, &[Some("h1".to_owned())]));
        assert!(h.programmed(&key("a"), 1, &[Some("h2".to_owned())]));
    }
}
