//! Image references (`[domain/]path[:tag][@digest]`) as Docker understands them.
//!
//! Parsing follows the behaviour moby gets from `github.com/distribution/reference` v0.6
//! and `github.com/opencontainers/go-digest`: the same names are accepted, they normalise to
//! the same canonical form, and failures carry the same message text.
//!
//! Grammar, informally:
//!
//! - a *path component* is runs of `[a-z0-9]` joined by one `.`, one `_`, two `__`, or any
//!   number of `-`; a *path* is one or more components joined by `/`;
//! - a *domain* is a host, then optionally `:` and decimal digits. A host is either DNS-like
//!   labels (ASCII letters of either case, digits, inner `-`) joined by `.`, or an IPv6
//!   address in square brackets (hex digits and `:` only, so no zones);
//! - a *tag* is a word character (`[A-Za-z0-9_]`) followed by at most 127 word characters,
//!   `.` or `-`;
//! - a *digest* is an algorithm (letter-led alphanumeric pieces joined by one of `-_+.`),
//!   `:`, and at least 32 hex digits; sha256/sha384/sha512 must then be lowercase hex of
//!   exactly 64/96/128 digits, any other algorithm is unsupported.
//!
//! Normalisation (what `docker pull busybox` does): the part before the first `/` is a
//! domain only when it is `localhost`, contains `.` or `:`, or has uppercase letters;
//! otherwise the reference lives on Docker Hub (`docker.io`). `index.docker.io` is an old
//! spelling of `docker.io`. Single-component Hub paths are official images, under
//! `library/`. The familiar form reverses the last two steps.

use std::fmt;
use std::str::FromStr;

/// Registry of references that name no domain (Docker Hub).
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The historical Hub domain, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Tag given to references that carry neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest accepted path (the name without its domain), in bytes.
pub const MAX_PATH_LEN: usize = 255;

const OFFICIAL_PREFIX: &str = "library/";
const MAX_TAG_LEN: usize = 128;
const MIN_DIGEST_HEX: usize = 32;

const MSG_INVALID_FORMAT: &str = "invalid reference format";
const MSG_INVALID_TAG: &str = "invalid tag format";
const MSG_INVALID_DIGEST: &str = "invalid digest format";
const MSG_UPPERCASE: &str = "repository name must be lowercase";
const MSG_CHECKSUM_FORMAT: &str = "invalid checksum digest format";
const MSG_CHECKSUM_LENGTH: &str = "invalid checksum digest length";
const MSG_UNSUPPORTED_DIGEST: &str = "unsupported digest algorithm";

/// Why a string is not an acceptable reference; the message is Docker's own text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceError(pub String);

impl ReferenceError {
    fn new(message: impl Into<String>) -> Self {
        ReferenceError(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReferenceError {}

/// moby reports every reference error as an invalid parameter (HTTP 400).
impl From<ReferenceError> for crate::Error {
    fn from(e: ReferenceError) -> Self {
        crate::Error::invalid(e.0)
    }
}

/// A parsed, normalised image reference.
///
/// `domain` is empty only in one corner the Go library shares: a first component that
/// looks like a domain (it has a `.`) but is not a valid one, while still being a valid
/// path component (e.g. `a_b.c/d`); the whole name then becomes the path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses what a user typed (`busybox`, `user/app:1`, `localhost:5000/a/b@sha256:…`)
    /// into its canonical form, without adding a default tag (see
    /// [`with_default_tag`](Self::with_default_tag)). Mirrors `ParseNormalizedNamed`.
    pub fn parse_normalized(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex_identifier(s) {
            return Err(ReferenceError::new(format!(
                "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        let (domain, remainder) = split_docker_domain(s);
        // Only the text before the first ':' is checked here, as the Go code does; it is
        // what ends up in the message.
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::new(format!(
                "{MSG_INVALID_FORMAT}: repository name ({remote}) must be lowercase"
            )));
        }
        parse_canonical(&format!("{domain}/{remainder}"))
    }

    /// Like [`parse_normalized`](Self::parse_normalized), then keeps only the digest when
    /// both a tag and a digest are given and adds `latest` when neither is. Mirrors
    /// `ParseDockerRef`, the form containerd image names take.
    pub fn parse_docker_ref(s: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_normalized(s)?;
        if r.digest.is_some() {
            r.tag = None;
            Ok(r)
        } else {
            Ok(r.with_default_tag())
        }
    }

    /// Adds the `latest` tag when the reference has neither tag nor digest (`TagNameOnly`).
    pub fn with_default_tag(mut self) -> Reference {
        if self.is_name_only() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// The same name with `tag`, keeping any digest (`WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_tag(tag) {
            return Err(ReferenceError::new(MSG_INVALID_TAG));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            ..self.clone()
        })
    }

    /// The same name with `digest`, keeping any tag (`WithDigest`). The digest must match
    /// the reference grammar ("invalid digest format") and be a valid digest of a known
    /// algorithm (go-digest's messages).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !is_digest_grammar(digest) {
            return Err(ReferenceError::new(MSG_INVALID_DIGEST));
        }
        validate_digest(digest)?;
        Ok(Reference {
            digest: Some(digest.to_string()),
            ..self.clone()
        })
    }

    /// The bare name, without tag or digest (`TrimNamed`).
    pub fn name_only(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// True when there is neither a tag nor a digest (`IsNameOnly`).
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Canonical name: `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        join_name(&self.domain, &self.path)
    }

    /// Canonical reference: the name, then `:tag` and `@digest` when present.
    pub fn full(&self) -> String {
        self.with_suffixes(self.name())
    }

    /// Name as the Docker CLI shows it: `busybox`, `user/app`, `localhost:5000/a/b`.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_PREFIX) {
            // Only a single component under library/ is an official image.
            Some(rest) if !rest.contains('/') => rest.to_string(),
            _ => self.path.clone(),
        }
    }

    /// Reference as the Docker CLI shows it: `busybox:latest`, `user/app@sha256:…`.
    pub fn familiar(&self) -> String {
        self.with_suffixes(self.familiar_name())
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The name without its domain: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    fn with_suffixes(&self, mut s: String) -> String {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
        s
    }
}

/// Displays the canonical form ([`Reference::full`]).
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full())
    }
}

/// Parses with [`Reference::parse_normalized`].
impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

/// True for a full image ID: 64 lowercase hex digits, with or without `sha256:`.
pub fn is_full_image_id(s: &str) -> bool {
    is_hex_identifier(s.strip_prefix("sha256:").unwrap_or(s))
}

/// Checks `algorithm:encoded` the way go-digest's `Digest.Validate` does, with sha256,
/// sha384 and sha512 available (as they are in dockerd).
pub fn validate_digest(digest: &str) -> Result<(), ReferenceError> {
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(ReferenceError::new(MSG_CHECKSUM_FORMAT));
    };
    if encoded.is_empty() {
        return Err(ReferenceError::new(MSG_CHECKSUM_FORMAT));
    }
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(ReferenceError::new(
                if is_go_digest_algorithm(algorithm) && is_go_digest_encoded(encoded) {
                    MSG_UNSUPPORTED_DIGEST
                } else {
                    MSG_CHECKSUM_FORMAT
                },
            ));
        }
    };
    if encoded.len() != hex_len {
        return Err(ReferenceError::new(MSG_CHECKSUM_LENGTH));
    }
    if !encoded.bytes().all(is_lower_hex) {
        return Err(ReferenceError::new(MSG_CHECKSUM_FORMAT));
    }
    Ok(())
}

/// The un-normalised parse (`reference.Parse`) of a string that already starts with its
/// domain; only [`Reference::parse_normalized`] calls it, so the name is never empty.
fn parse_canonical(s: &str) -> Result<Reference, ReferenceError> {
    let Some(parts) = match_reference(s) else {
        let lower = s.to_lowercase();
        if lower != s && match_reference(&lower).is_some() {
            return Err(ReferenceError::new(MSG_UPPERCASE));
        }
        return Err(ReferenceError::new(MSG_INVALID_FORMAT));
    };
    if parts.path.len() > MAX_PATH_LEN {
        return Err(ReferenceError::new(format!(
            "repository name must not be more than {MAX_PATH_LEN} characters"
        )));
    }
    if let Some(digest) = parts.digest {
        validate_digest(digest)?;
    }
    Ok(Reference {
        domain: parts.domain.to_string(),
        path: parts.path.to_string(),
        tag: parts.tag.map(str::to_string),
        digest: parts.digest.map(str::to_string),
    })
}

/// Picks the domain the way Docker does for user input and returns it with the rest of
/// the string (path, tag, digest), official images already under `library/`.
fn split_docker_domain(s: &str) -> (&str, String) {
    let Some((first, rest)) = s.split_once('/') else {
        // A single component is always a Hub name, even `localhost` or `example.com`.
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_PREFIX}{s}"));
    };
    let (domain, remainder) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first.contains(['.', ':']) || first.to_lowercase() != first {
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        (domain, format!("{OFFICIAL_PREFIX}{remainder}"))
    } else {
        (domain, remainder.to_string())
    }
}

struct Parts<'a> {
    domain: &'a str,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

/// Matches the whole reference grammar. None of the pieces can be split another way: no
/// part but the digest follows '@', a tag is whatever follows a ':' that has no '/' after
/// it, and a domain is the first component, taken when it is a valid domain.
fn match_reference(s: &str) -> Option<Parts<'_>> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    if digest.is_some_and(|d| !is_digest_grammar(d)) {
        return None;
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (rest, None),
    };
    if tag.is_some_and(|t| !is_tag(t)) {
        return None;
    }
    let (domain, path) = split_name(name)?;
    Some(Parts {
        domain,
        path,
        tag,
        digest,
    })
}

/// Splits `[domain/]path`, preferring a domain when the first component is one.
fn split_name(name: &str) -> Option<(&str, &str)> {
    if let Some((domain, path)) = name.split_once('/')
        && is_domain(domain)
        && is_path(path)
    {
        return Some((domain, path));
    }
    is_path(name).then_some(("", name))
}

fn join_name(domain: &str, path: &str) -> String {
    if domain.is_empty() {
        path.to_string()
    } else {
        format!("{domain}/{path}")
    }
}

fn is_path(s: &str) -> bool {
    s.split('/').all(is_path_component)
}

fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        let run = i;
        while i < b.len() && is_lower_alnum(b[i]) {
            i += 1;
        }
        if i == run {
            // Empty component, or one that starts or ends with a separator.
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &b[sep..i];
        if !(sep == b"." || sep == b"_" || sep == b"__" || sep.iter().all(|&c| c == b'-')) {
            return false;
        }
    }
}

fn is_domain(s: &str) -> bool {
    let (host_ok, port) = if let Some(inner) = s.strip_prefix('[') {
        match inner.split_once(']') {
            Some((addr, port)) => (
                !addr.is_empty() && addr.bytes().all(|c| c.is_ascii_hexdigit() || c == b':'),
                port,
            ),
            None => return false,
        }
    } else {
        let (host, port) = match s.find(':') {
            Some(i) => s.split_at(i),
            None => (s, ""),
        };
        (host.split('.').all(is_domain_label), port)
    };
    host_ok
        && (port.is_empty()
            || port
                .strip_prefix(':')
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit())))
}

fn is_domain_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        }
        _ => false,
    }
}

fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG_LEN
        && is_word(b[0])
        && b[1..].iter().all(|&c| is_word(c) || c == b'.' || c == b'-')
}

/// The digest shape a reference accepts; stricter checks are in [`validate_digest`].
fn is_digest_grammar(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|piece| {
        let b = piece.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    algorithm_ok && hex.len() >= MIN_DIGEST_HEX && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// go-digest's general algorithm shape: lowercase alphanumeric pieces joined by one of `.+_-`.
fn is_go_digest_algorithm(s: &str) -> bool {
    s.split(['.', '+', '_', '-'])
        .all(|piece| !piece.is_empty() && piece.bytes().all(is_lower_alnum))
}

/// go-digest's general encoded shape: `[a-zA-Z0-9=_-]+`.
fn is_go_digest_encoded(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'=' || c == b'_' || c == b'-')
}

fn is_hex_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(is_lower_hex)
}

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_lower_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn sha256() -> String {
        format!("sha256:{HEX}")
    }

    fn parse(s: &str) -> Reference {
        Reference::parse_normalized(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> String {
        match Reference::parse_normalized(s) {
            Ok(r) => panic!("{s:?} should be rejected, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// (input, domain, path, tag, digest)
    fn check(s: &str, domain: &str, path: &str, tag: Option<&str>, digest: Option<&str>) {
        let r = parse(s);
        assert_eq!(r.domain(), domain, "domain of {s:?}");
        assert_eq!(r.path(), path, "path of {s:?}");
        assert_eq!(r.tag(), tag, "tag of {s:?}");
        assert_eq!(r.digest(), digest, "digest of {s:?}");
    }

    #[test]
    fn official_image_normalises() {
        let r = parse("busybox");
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), None);
        assert!(r.is_name_only());
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.full(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.familiar(), "busybox");

        let r = r.with_default_tag();
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.full(), "docker.io/library/busybox:latest");
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn hub_spellings_are_equivalent() {
        let want = parse("busybox:latest");
        for s in [
            "docker.io/library/busybox:latest",
            "docker.io/busybox:latest",
            "index.docker.io/busybox:latest",
            "index.docker.io/library/busybox:latest",
            "library/busybox:latest",
        ] {
            assert_eq!(parse(s), want, "{s}");
            assert_eq!(parse(s).familiar(), "busybox:latest", "{s}");
        }
    }

    #[test]
    fn hub_user_images() {
        let r = parse("user/app:1.0");
        assert_eq!(r.full(), "docker.io/user/app:1.0");
        assert_eq!(r.familiar_name(), "user/app");
        assert_eq!(r.familiar(), "user/app:1.0");

        check("docker.io/user/app", "docker.io", "user/app", None, None);
        check(
            "index.docker.io/user/app",
            "docker.io",
            "user/app",
            None,
            None,
        );
        // Nested paths under library/ are not official images.
        let r = parse("docker.io/library/a/b");
        assert_eq!(r.familiar_name(), "library/a/b");
        let r = parse("other/library");
        assert_eq!(r.familiar_name(), "other/library");
        // Separator rules.
        check(
            "dock__er/docker",
            "docker.io",
            "dock__er/docker",
            None,
            None,
        );
        check(
            "docker---rules/d",
            "docker.io",
            "docker---rules/d",
            None,
            None,
        );
        check("a.b_c-d", "docker.io", "library/a.b_c-d", None, None);
        check("ab__c--d/e.f", "docker.io", "ab__c--d/e.f", None, None);
        check("d/x", "docker.io", "d/x", None, None);
        check(
            "ubuntu-12.04-base",
            "docker.io",
            "library/ubuntu-12.04-base",
            None,
            None,
        );
        // A 64-character name that is not all hex is fine.
        let long = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev";
        check(long, "docker.io", &format!("library/{long}"), None, None);
    }

    #[test]
    fn private_registries() {
        let r = parse("127.0.0.1:5000/t/busybox:1");
        assert_eq!(r.domain(), "127.0.0.1:5000");
        assert_eq!(r.path(), "t/busybox");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.name(), "127.0.0.1:5000/t/busybox");
        assert_eq!(r.familiar_name(), "127.0.0.1:5000/t/busybox");
        assert_eq!(r.familiar(), "127.0.0.1:5000/t/busybox:1");

        let r = parse("localhost/foo");
        assert_eq!(r.domain(), "localhost");
        assert_eq!(r.path(), "foo");
        assert_eq!(r.familiar(), "localhost/foo");
        assert_eq!(r.with_default_tag().full(), "localhost/foo:latest");

        check(
            "localhost:5000/a/b:1",
            "localhost:5000",
            "a/b",
            Some("1"),
            None,
        );
        check("example.com/foo", "example.com", "foo", None, None);
        check(
            "example.com:8000/a/b",
            "example.com:8000",
            "a/b",
            None,
            None,
        );
        check("myhost:5000/foo", "myhost:5000", "foo", None, None);
        check(
            "sub-dom1.foo.com/bar/baz",
            "sub-dom1.foo.com",
            "bar/baz",
            None,
            None,
        );
        check(
            "xn--n3h.com/img:xn--n3h.com",
            "xn--n3h.com",
            "img",
            Some("xn--n3h.com"),
            None,
        );
        check(
            "b.gcr.io/test.example.com/app:t",
            "b.gcr.io",
            "test.example.com/app",
            Some("t"),
            None,
        );
        check(
            "192.168.0.1:8/debian",
            "192.168.0.1:8",
            "debian",
            None,
            None,
        );
        // Uppercase first components are taken as domains (registry host names).
        check("UPPER/x", "UPPER", "x", None, None);
        check(
            "LOCALDOMAIN/library/debian",
            "LOCALDOMAIN",
            "library/debian",
            None,
            None,
        );
        assert_eq!(parse("Foo/bar").familiar_name(), "Foo/bar");
        // Private registries never get library/.
        assert_eq!(parse("example.com/foo").path(), "foo");
    }

    #[test]
    fn ipv6_registries() {
        let r = parse("[::1]:5000/x");
        assert_eq!(r.domain(), "[::1]:5000");
        assert_eq!(r.path(), "x");
        assert_eq!(r.familiar(), "[::1]:5000/x");
        check("[::1]/x:t", "[::1]", "x", Some("t"), None);
        check(
            "[2001:db8::]:5000/repo",
            "[2001:db8::]:5000",
            "repo",
            None,
            None,
        );
        check(
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            "[fc00:1:2:3:4:5:6:7]:5000",
            "library/debian",
            None,
            None,
        );
        check(
            &format!("[2001:db8::1]:5000/repo:tag@{}", sha256()),
            "[2001:db8::1]:5000",
            "repo",
            Some("tag"),
            Some(&sha256()),
        );
        for s in [
            "[::1]",
            "[::1]:5000",
            "[::1]:tag",
            "[]/x",
            "[fe80::1%eth0]:5000/x",
            "[2001:db8:3:4::192.0.2.33]:5000/x",
            "[::1]:/x",
            "[::1]:50a/x",
            "[::1/x",
            "fc00::1:5000/debian",
        ] {
            assert_eq!(err(s), "invalid reference format", "{s}");
        }
    }

    #[test]
    fn single_component_is_always_a_hub_name() {
        // Even things that look like hosts: the part after ':' is a tag.
        check("localhost", "docker.io", "library/localhost", None, None);
        check(
            "localhost:5000",
            "docker.io",
            "library/localhost",
            Some("5000"),
            None,
        );
        check(
            "example.com",
            "docker.io",
            "library/example.com",
            None,
            None,
        );
        check(
            "192.168.1.1:5000",
            "docker.io",
            "library/192.168.1.1",
            Some("5000"),
            None,
        );
        check(
            "index.docker.io",
            "docker.io",
            "library/index.docker.io",
            None,
            None,
        );
    }

    #[test]
    fn tags() {
        check(
            "busybox:1.36",
            "docker.io",
            "library/busybox",
            Some("1.36"),
            None,
        );
        check(
            "lowercase:Uppercase",
            "docker.io",
            "library/lowercase",
            Some("Uppercase"),
            None,
        );
        check("a:_x", "docker.io", "library/a", Some("_x"), None);
        check(
            "a:1.2-rc_3",
            "docker.io",
            "library/a",
            Some("1.2-rc_3"),
            None,
        );
        let t128 = "t".repeat(128);
        check(
            &format!("a:{t128}"),
            "docker.io",
            "library/a",
            Some(&t128),
            None,
        );
        assert_eq!(err(&format!("a:{t128}x")), "invalid reference format");
        for s in ["a:", "a:-x", "a:.x", "a:b:c", "a:b/c", "a:t@", "a:tag!"] {
            assert_eq!(err(s), "invalid reference format", "{s}");
        }
        // A tag never gets replaced by the default.
        assert_eq!(parse("a:1").with_default_tag().tag(), Some("1"));
    }

    #[test]
    fn digests() {
        let d = sha256();
        let r = parse(&format!("busybox@{d}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(d.as_str()));
        assert!(!r.is_name_only());
        assert_eq!(r.full(), format!("docker.io/library/busybox@{d}"));
        assert_eq!(r.familiar(), format!("busybox@{d}"));
        // A digest is enough: no default tag.
        assert_eq!(r.clone().with_default_tag(), r);

        let r = parse(&format!("busybox:1.36@{d}"));
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.full(), format!("docker.io/library/busybox:1.36@{d}"));
        assert_eq!(r.familiar(), format!("busybox:1.36@{d}"));

        let sha512 = format!("sha512:{}", "ab".repeat(64));
        check(
            &format!("x@{sha512}"),
            "docker.io",
            "library/x",
            None,
            Some(&sha512),
        );
        let sha384 = format!("sha384:{}", "cd".repeat(48));
        check(
            &format!("x@{sha384}"),
            "docker.io",
            "library/x",
            None,
            Some(&sha384),
        );
    }

    #[test]
    fn bad_digests() {
        assert_eq!(
            err("x@sha256:ffffffffffffffffffffffffffffffffff"),
            "invalid checksum digest length"
        );
        assert_eq!(
            err(&format!("x@md5:{}", "f".repeat(32))),
            "unsupported digest algorithm"
        );
        assert_eq!(
            err(&format!("x@sha256+b64:{HEX}")),
            "unsupported digest algorithm"
        );
        // Uppercase hex passes the reference grammar but not go-digest.
        assert_eq!(
            err(&format!("x@sha256:{}", HEX.to_uppercase())),
            "invalid checksum digest format"
        );
        assert_eq!(
            err(&format!("x:t@SHA256:{HEX}")),
            "invalid checksum digest format"
        );
        // Fewer than 32 hex digits, or no hex at all, is not a digest.
        assert_eq!(err("x@sha256:abc"), "invalid reference format");
        assert_eq!(
            err(&format!("x@sha256:{}g", &HEX[..63])),
            "invalid reference format"
        );
        assert_eq!(err(&format!("x@1sha:{HEX}")), "invalid reference format");
        assert_eq!(err(&format!("x@sha256::{HEX}")), "invalid reference format");
        assert_eq!(err(&format!("x@@sha256:{HEX}")), "invalid reference format");
        assert_eq!(err(&format!("@{}", sha256())), "invalid reference format");
        assert_eq!(err("x@"), "invalid reference format");
        // The lowercase check reads up to the first ':', so it sees the digest algorithm.
        assert_eq!(
            err(&format!("x@SHA256:{HEX}")),
            "invalid reference format: repository name (library/x@SHA256) must be lowercase"
        );
    }

    #[test]
    fn uppercase_names() {
        assert_eq!(
            err("Foo"),
            "invalid reference format: repository name (library/Foo) must be lowercase"
        );
        assert_eq!(
            err("Busybox:latest"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            err("docker/Docker"),
            "invalid reference format: repository name (docker/Docker) must be lowercase"
        );
        assert_eq!(
            err("UPPER/X"),
            "invalid reference format: repository name (X) must be lowercase"
        );
        assert_eq!(
            err("test:5000/Uppercase/lowercase:tag"),
            "invalid reference format: repository name (Uppercase/lowercase) must be lowercase"
        );
        // A domain-looking component that is only valid lowercased, as a path component.
        assert_eq!(err("A_B.c/d"), "repository name must be lowercase");
    }

    #[test]
    fn invalid_formats() {
        for s in [
            "",
            ":tag",
            ":",
            "/",
            "/busybox",
            "busybox/",
            "a//b",
            "docker///docker",
            "docker.io/docker///docker",
            "a:b:c",
            "-docker",
            "-docker/docker",
            "docker-/docker",
            "-docker.io/docker/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "a___b",
            "a_-b",
            "docker.io/",
            "localhost/",
            "https://github.com/docker/docker",
            "aa/asdf$$^/aa",
            "bücher",
            "a b",
            "example.com:/x",
            "example.com:port/x",
            "ex_ample.com:5000/x",
            "-example.com/x",
            "example-.com/x",
            "example..com/x",
        ] {
            assert_eq!(err(s), "invalid reference format", "{s:?}");
        }
    }

    #[test]
    fn hex_identifiers() {
        assert_eq!(
            err(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        // With a domain there is no ambiguity.
        check(
            &format!("docker.io/{HEX}"),
            "docker.io",
            &format!("library/{HEX}"),
            None,
            None,
        );
        check(
            &format!("user/{HEX}"),
            "docker.io",
            &format!("user/{HEX}"),
            None,
            None,
        );
        // 63 or 65 hex digits are plain names.
        check(
            &HEX[..63],
            "docker.io",
            &format!("library/{}", &HEX[..63]),
            None,
            None,
        );
        // As in Go, "sha256:<hex>" parses as image "sha256" with a 64-character tag;
        // callers must look IDs up before parsing references.
        check(&sha256(), "docker.io", "library/sha256", Some(HEX), None);

        assert!(is_full_image_id(HEX));
        assert!(is_full_image_id(&sha256()));
        assert!(!is_full_image_id(&HEX[..63]));
        assert!(!is_full_image_id(&format!("{HEX}0")));
        assert!(!is_full_image_id(&HEX.to_uppercase()));
        assert!(!is_full_image_id(&format!("sha512:{HEX}")));
        assert!(!is_full_image_id("sha256:"));
        assert!(!is_full_image_id(""));
    }

    #[test]
    fn path_length_limit() {
        // The limit applies to the path only, not the domain.
        let a255 = "a".repeat(255);
        check(
            &format!("example.com/{a255}:tag"),
            "example.com",
            &a255,
            Some("tag"),
            None,
        );
        assert_eq!(
            err(&format!("example.com/{a255}a")),
            "repository name must not be more than 255 characters"
        );
        assert_eq!(
            err(&format!("domain/{a255}a:tag")),
            "repository name must not be more than 255 characters"
        );
        // Hub names count their library/ prefix.
        check(
            &"a".repeat(247),
            "docker.io",
            &format!("library/{}", "a".repeat(247)),
            None,
            None,
        );
        assert_eq!(
            err(&"a".repeat(248)),
            "repository name must not be more than 255 characters"
        );
        let nested = format!("{}a", "a/".repeat(127));
        check(
            &format!("{nested}:t"),
            "docker.io",
            &nested,
            Some("t"),
            None,
        );
        // A too-long path is reported before a bad digest.
        assert_eq!(
            err(&format!("example.com/{a255}a@sha256:{}", "f".repeat(40))),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn underscore_domain_falls_back_to_path() {
        // The first component has a '.', so it is meant as a domain, but '_' is not allowed
        // in host names: the whole thing is then read as a path, with no domain (as in Go).
        let r = parse("a_b.c/d:1");
        assert_eq!(r.domain(), "");
        assert_eq!(r.path(), "a_b.c/d");
        assert_eq!(r.name(), "a_b.c/d");
        assert_eq!(r.familiar_name(), "a_b.c/d");
        assert_eq!(r.full(), "a_b.c/d:1");
        assert_eq!(parse(&r.full()), r);
    }

    #[test]
    fn with_tag_and_digest() {
        let d = sha256();
        let base = parse("localhost:5000/app");
        let tagged = base.with_tag("v2").unwrap();
        assert_eq!(tagged.full(), "localhost:5000/app:v2");
        assert_eq!(base.tag(), None);
        let both = tagged.with_digest(&d).unwrap();
        assert_eq!(both.full(), format!("localhost:5000/app:v2@{d}"));
        // with_tag keeps the digest and replaces the tag.
        assert_eq!(
            both.with_tag("v3").unwrap().full(),
            format!("localhost:5000/app:v3@{d}")
        );
        assert_eq!(both.name_only(), base);

        for t in ["", "-x", ".x", "a/b", "a:b", "a@b", "é", &"t".repeat(129)] {
            assert_eq!(
                base.with_tag(t).unwrap_err().to_string(),
                "invalid tag format",
                "{t:?}"
            );
        }
        assert_eq!(
            base.with_tag(&"t".repeat(128)).unwrap().tag().map(str::len),
            Some(128)
        );

        for bad in ["", "sha256", "sha256:abc", HEX, "sha256:", ":abc"] {
            assert_eq!(
                base.with_digest(bad).unwrap_err().to_string(),
                "invalid digest format",
                "{bad:?}"
            );
        }
        assert_eq!(
            base.with_digest(&format!("sha256:{}", &HEX[..40]))
                .unwrap_err()
                .to_string(),
            "invalid checksum digest length"
        );
        assert_eq!(
            base.with_digest(&format!("foo:{HEX}"))
                .unwrap_err()
                .to_string(),
            "unsupported digest algorithm"
        );
    }

    #[test]
    fn docker_ref_form() {
        let d = sha256();
        assert_eq!(
            Reference::parse_docker_ref("busybox").unwrap().full(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            Reference::parse_docker_ref("busybox:1").unwrap().full(),
            "docker.io/library/busybox:1"
        );
        assert_eq!(
            Reference::parse_docker_ref(&format!("busybox:latest@{d}"))
                .unwrap()
                .full(),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            Reference::parse_docker_ref(&format!("busybox@{d}"))
                .unwrap()
                .full(),
            format!("docker.io/library/busybox@{d}")
        );
    }

    #[test]
    fn canonical_form_round_trips() {
        let d = sha256();
        for s in [
            "busybox",
            "busybox:latest",
            "user/app:1",
            "docker.io/library/a/b",
            "localhost/foo",
            "localhost:5000/a/b:1",
            "127.0.0.1:5000/t/busybox:1",
            "[::1]:5000/x:y",
            "UPPER/x",
            &format!("busybox:1@{d}"),
        ] {
            let r: Reference = s.parse().unwrap();
            assert_eq!(parse(&r.full()), r, "canonical {s}");
            assert_eq!(parse(&r.familiar()), r, "familiar {s}");
        }
    }

    #[test]
    fn digest_validation() {
        assert!(validate_digest(&sha256()).is_ok());
        assert!(validate_digest(&format!("sha512:{}", "0".repeat(128))).is_ok());
        let cases = [
            ("", "invalid checksum digest format"),
            ("sha256", "invalid checksum digest format"),
            ("sha256:", "invalid checksum digest format"),
            (":abc", "invalid checksum digest format"),
            ("sha256:abc", "invalid checksum digest length"),
            ("md5:abc", "unsupported digest algorithm"),
            ("sha.256+x:abc=", "unsupported digest algorithm"),
            ("MD5:abc", "invalid checksum digest format"),
            ("md5:a/c", "invalid checksum digest format"),
            ("md5..x:abc", "invalid checksum digest format"),
        ];
        for (input, message) in cases {
            assert_eq!(
                validate_digest(input).unwrap_err().to_string(),
                message,
                "{input:?}"
            );
        }
        let upper = format!("sha256:{}", HEX.to_uppercase());
        assert_eq!(
            validate_digest(&upper).unwrap_err().to_string(),
            "invalid checksum digest format"
        );
        let e: crate::Error = ReferenceError::new("x").into();
        assert_eq!(e.kind, crate::ErrorKind::InvalidParameter);
    }
}
