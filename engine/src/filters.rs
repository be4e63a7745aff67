//! Docker list/event filters as a value: each term maps to a set of accepted values.
//! Terms are ANDed, values within one term are ORed. Parsing from the wire lives in the API
//! layer; validation and matching live here.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    terms: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, term: impl Into<String>, value: impl Into<String>) {
        self.terms
            .entry(term.into())
            .or_default()
            .insert(value.into());
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    pub fn values(&self, term: &str) -> Option<&BTreeSet<String>> {
        self.terms.get(term)
    }

    pub fn contains(&self, term: &str) -> bool {
        self.terms.contains_key(term)
    }

    /// Rejects terms outside `accepted` with moby's `invalid filter '<term>'`.
    pub fn validate(&self, accepted: &[&str]) -> Result<()> {
        for term in self.terms.keys() {
            if !accepted.contains(&term.as_str()) {
                return Err(Error::invalid(format!("invalid filter '{term}'")));
            }
        }
        Ok(())
    }

    /// The first value of a boolean term (`true`/`1`, `false`/`0`), None when absent; a
    /// value that is neither comes back as the error, for the caller's own text.
    pub fn bool_term(&self, term: &str) -> std::result::Result<Option<bool>, String> {
        match self.terms.get(term).and_then(|v| v.iter().next()) {
            None => Ok(None),
            Some(v) if v == "true" || v == "1" => Ok(Some(true)),
            Some(v) if v == "false" || v == "0" => Ok(Some(false)),
            Some(v) => Err(v.clone()),
        }
    }

    /// True when `term` is absent or any of its values equals `value`.
    pub fn exact_match(&self, term: &str, value: &str) -> bool {
        self.terms.get(term).is_none_or(|vs| vs.contains(value))
    }

    /// True when `term` is absent or any of its values matches one of `candidates`
    /// exactly or as a prefix (IDs are matched by prefix, as moby does).
    pub fn prefix_match_any(&self, term: &str, candidates: &[&str]) -> bool {
        self.terms.get(term).is_none_or(|vs| {
            vs.iter().any(|v| {
                candidates
                    .iter()
                    .any(|c| !c.is_empty() && c.starts_with(v.as_str()))
            })
        })
    }

    /// Label filter: each value is `key` (must exist) or `key=value` (must equal).
    pub fn label_match(&self, labels: &BTreeMap<String, String>) -> bool {
        self.key_value_match("label", labels)
    }

    /// A filter over a map as `label` is: each value of `term` is `key` (must exist) or
    /// `key=value` (must equal).
    pub fn key_value_match(&self, term: &str, map: &BTreeMap<String, String>) -> bool {
        self.terms.get(term).is_none_or(|vs| {
            vs.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => map.get(k).is_some_and(|have| have == want),
                None => map.contains_key(v.as_str()),
            })
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &BTreeSet<String>)> {
        self.terms.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_terms_match_everything() {
        let f = Filters::new();
        assert!(f.exact_match("type", "container"));
        assert!(f.label_match(&BTreeMap::new()));
    }

    #[test]
    fn values_within_a_term_are_ored() {
        let mut f = Filters::new();
        f.add("type", "container");
        f.add("type", "image");
        assert!(f.exact_match("type", "image"));
        assert!(!f.exact_match("type", "network"));
    }

    #[test]
    fn labels_need_key_or_key_value() {
        let mut f = Filters::new();
        f.add("label", "a");
        f.add("label", "b=2");
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "x".to_string());
        assert!(!f.label_match(&labels));
        labels.insert("b".to_string(), "2".to_string());
        assert!(f.label_match(&labels));
        labels.insert("b".to_string(), "3".to_string());
        assert!(!f.label_match(&labels));
    }

    #[test]
    fn unknown_terms_are_rejected_with_moby_text() {
        let mut f = Filters::new();
        f.add("bogus", "1");
        let err = f.validate(&["type"]).unwrap_err();
        assert_eq!(err.message, "invalid filter 'bogus'");
    }

    #[test]
    fn prefix_match_uses_id_prefixes() {
        let mut f = Filters::new();
        f.add("container", "abc");
        assert!(f.prefix_match_any("container", &["abcdef", "web"]));
        assert!(!f.prefix_match_any("container", &["def", "web"]));
    }
}
