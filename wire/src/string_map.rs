//! `StringMap`: string keys to string values in insertion order. It is both the `extFields`
//! of a command ([`crate::ExtFields`]) and a message's properties
//! ([`crate::properties::Properties`]): both hold a handful of entries, so a vector with a
//! linear lookup beats a hash map, and keeping the order makes encoding deterministic.

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringMap {
    entries: Vec<(String, String)>,
}

impl StringMap {
    pub fn new() -> Self {
        StringMap::default()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, keeping the key's position if present; returns the value it
    /// replaced.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Option<String> {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, old)) => Some(std::mem::replace(old, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(index).1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for StringMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = StringMap::new();
        for (key, value) in iter {
            map.insert(key, value);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_keeps_position_and_returns_the_old_value() {
        let mut map: StringMap = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(map.insert("a", "3"), Some("1".to_string()));
        assert_eq!(map.iter().collect::<Vec<_>>(), vec![("a", "3"), ("b", "2")]);
        assert_eq!(map.remove("a"), Some("3".to_string()));
        assert_eq!(map.remove("a"), None);
        assert_eq!(
            (map.len(), map.get("b"), map.contains_key("z")),
            (1, Some("2"), false)
        );
    }
}
