//! A map keyed by namespace and name that is looked up without allocating (translation looks
//! up a consumer and a Secret for every credential).

use std::collections::HashMap;

#[derive(Debug)]
pub(crate) struct NameIndex<V> {
    by_namespace: HashMap<String, HashMap<String, V>>,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        Self {
            by_namespace: HashMap::new(),
        }
    }
}

impl<V> NameIndex<V> {
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
