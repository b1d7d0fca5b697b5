//! Maps keyed by namespace and name that are looked up without allocating (translation looks
//! up a consumer and a Secret for every credential). [`NameIndex`] borrows its keys from the
//! objects being translated, so building it copies no string either.

use std::collections::HashMap;

#[derive(Debug)]
pub(crate) struct NameIndex<'k, V> {
    by_namespace: HashMap<&'k str, HashMap<&'k str, V>>,
}

impl<V> Default for NameIndex<'_, V> {
    fn default() -> Self {
        Self {
            by_namespace: HashMap::new(),
        }
    }
}

impl<'k, V> NameIndex<'k, V> {
    pub(crate) fn insert(&mut self, namespace: &'k str, name: &'k str, value: V) {
        self.by_namespace
            .entry(namespace)
            .or_default()
            .insert(name, value);
    }

    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        self.by_namespace.get(namespace)?.get(name)
    }

    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.by_namespace
            .into_values()
            .flat_map(HashMap::into_values)
    }
}

/// A [`NameIndex`] that owns its keys, for names that are not borrowed from the objects (the
/// plugins, a few per translation).
#[derive(Debug)]
pub(crate) struct OwnedNameIndex<V> {
    by_namespace: HashMap<String, HashMap<String, V>>,
}

impl<V> Default for OwnedNameIndex<V> {
    fn default() -> Self {
        Self {
            by_namespace: HashMap::new(),
        }
    }
}

impl<V> OwnedNameIndex<V> {
    pub(crate) fn insert(&mut self, namespace: &str, name: &str, value: V) {
        self.by_namespace
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned(), value);
    }

    pub(crate) fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        self.by_namespace.get(namespace)?.get(name)
    }

    pub(crate) fn contains(&self, namespace: &str, name: &str) -> bool {
        self.get(namespace, name).is_some()
    }

    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.by_namespace
            .into_values()
            .flat_map(HashMap::into_values)
    }
}
