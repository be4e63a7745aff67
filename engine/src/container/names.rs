//! Container names: moby's grammar, and generated `adjective_surname` names.

use crate::{Error, Result};

/// moby's `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (with an optional leading `/`).
pub fn validate(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() => {
            bare.len() >= 2
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        }
        _ => false,
    };
    if !ok {
        return Err(Error::invalid(format!(
            "Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

const ADJECTIVES: &[&str] = &[
    "agile", "amber", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
    "earnest", "fancy", "fearless", "gentle", "glad", "golden", "happy", "hardy", "honest",
    "jolly", "keen", "kind", "lively", "lucid", "merry", "mellow", "nimble", "noble", "patient",
    "placid", "proud", "quiet", "quick", "radiant", "rapid", "serene", "sharp", "shiny", "steady",
    "sturdy", "sunny", "swift", "tender", "tidy", "upbeat", "vivid", "warm", "wise", "witty",
    "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi",
    "archimedes",
    "babbage",
    "bohr",
    "boole",
    "cantor",
    "curie",
    "darwin",
    "dijkstra",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "franklin",
    "galileo",
    "gauss",
    "goodall",
    "hamilton",
    "hawking",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "meitner",
    "mendel",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ramanujan",
    "ride",
    "ritchie",
    "sagan",
    "shannon",
    "somerville",
    "tesla",
    "thompson",
    "turing",
    "volta",
    "wiles",
    "wozniak",
    "wright",
    "yalow",
    "yonath",
    "zuse",
];

/// A random `adjective_surname`; `attempt` > 0 appends a digit, as moby does on collisions.
pub fn generate(attempt: u32) -> String {
    let a = ADJECTIVES[rand::random_range(0..ADJECTIVES.len())];
    let s = SURNAMES[rand::random_range(0..SURNAMES.len())];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", rand::random_range(0..10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        assert_eq!(validate("web").unwrap(), "/web");
        assert_eq!(validate("/web-1.a_b").unwrap(), "/web-1.a_b");
        assert_eq!(
            validate("a/b").unwrap_err().message,
            "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert!(validate("_x").is_err());
        assert!(validate("x").is_err());
        assert!(validate("").is_err());
    }

    #[test]
    fn generated_names_are_valid() {
        for i in 0..20 {
            assert!(validate(&generate(i % 2)).is_ok());
        }
    }
}
