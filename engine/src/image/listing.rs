//! `docker images`: the images a listing shows, filtered as moby filters them, newest first,
//! with the names each is listed under and, when asked, its shared size and container count.

use std::collections::HashMap;

use super::reference::Reference;
use super::store::{ImageEntry, familiar};
use crate::filters::Filters;
use crate::{Engine, Error, Result};

/// The filter terms `GET /images/json` takes.
const TERMS: &[&str] = &["dangling", "label", "before", "since", "reference", "until"];

/// What a listing asks for.
#[derive(Clone, Debug, Default)]
pub struct ImageListQuery {
    /// Intermediate images (the builder's step images) too.
    pub all: bool,
    pub filters: Filters,
    /// Work out each image's shared size (layers other images use too).
    pub shared_sizes: bool,
    /// Count the containers using each image.
    pub count_containers: bool,
}

/// One image of a listing.
#[derive(Clone, Debug)]
pub struct ListedImage {
    pub entry: ImageEntry,
    /// Familiar tags (`busybox:latest`), sorted; only those a `reference` filter matched.
    pub tags: Vec<String>,
    /// Familiar digested names (`x@sha256:…`), sorted, filtered as the tags are.
    pub digests: Vec<String>,
    /// Bytes of its layers other images share, when asked for.
    pub shared_size: Option<i64>,
    /// Containers made from it, when asked for.
    pub containers: Option<i64>,
}

impl ImageEntry {
    /// Its tags as lists show them, sorted.
    pub fn repo_tags(&self) -> Vec<String> {
        self.familiar_names(false)
    }

    /// Its digested names as lists show them, sorted.
    pub fn repo_digests(&self) -> Vec<String> {
        self.familiar_names(true)
    }

    fn familiar_names(&self, digested: bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .references()
            .filter(|n| n.contains('@') == digested)
            .map(|n| familiar(n))
            .collect();
        names.sort();
        names
    }
}

/// `dangling=true|false` (moby accepts `1` and `0` too).
fn dangling_filter(filters: &Filters) -> Result<Option<bool>> {
    filters
        .bool_term("dangling")
        .map_err(|v| Error::invalid(format!("Invalid filter 'dangling=[{v}]'")))
}

/// moby's reference filter: a glob over the familiar name, with or without the tag.
fn reference_matches(pattern: &str, familiar: &str) -> bool {
    let name = familiar.split_once('@').map_or(familiar, |(n, _)| n);
    let untagged = match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => &name[..i],
        _ => name,
    };
    glob(pattern, familiar) || glob(pattern, untagged)
}

/// `*` matches within a path component, `?` one character (Go's path.Match subset).
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && t[0] != b'/' && go(p, &t[1..])),
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// The creation times of the images `before`/`since` name (an ID prefix or a name).
fn created_of(
    images: &[ImageEntry],
    names: Option<&std::collections::BTreeSet<String>>,
) -> Result<Vec<i64>> {
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    names
        .iter()
        .map(|name| {
            let hex = name.strip_prefix("sha256:").unwrap_or(name);
            images
                .iter()
                .find(|e| {
                    e.resolved.id[7..].starts_with(hex)
                        || e.repo_tags()
                            .iter()
                            .any(|t| t == name || *t == format!("{name}:latest"))
                })
                .map(|e| e.created_unix)
                .ok_or_else(|| {
                    let shown = Reference::parse_normalized(name)
                        .map(|r| r.with_default_tag().familiar())
                        .unwrap_or_else(|_| name.to_string());
                    Error::not_found(format!("No such image: {shown}"))
                })
        })
        .collect()
}

impl Engine {
    /// `GET /images/json`: the images the query selects, newest first.
    pub async fn list_images(&self, query: &ImageListQuery) -> Result<Vec<ListedImage>> {
        let filters = &query.filters;
        filters.validate(TERMS)?;
        let images = self.images().list().await?;
        let before = created_of(&images, filters.values("before"))?;
        let since = created_of(&images, filters.values("since"))?;
        let dangling = dangling_filter(filters)?;
        let shared = if query.shared_sizes {
            Some(self.shared_sizes(&images).await.0)
        } else {
            None
        };
        // The builder's step images are intermediate: shown only with `all`, as dockerd
        // shows an image's parents.
        let intermediates = if query.all {
            Default::default()
        } else {
            self.build_intermediates()
        };
        let in_use = query.count_containers.then(|| {
            let mut counts = HashMap::<String, i64>::new();
            for c in self.containers().list() {
                *counts.entry(c.image_id.clone()).or_default() += 1;
            }
            counts
        });
        let mut out = Vec::new();
        for entry in images.iter() {
            let (mut tags, mut digests) = (entry.repo_tags(), entry.repo_digests());
            let is_dangling = tags.is_empty() && digests.is_empty();
            if (is_dangling && intermediates.contains(&entry.resolved.id))
                || dangling.is_some_and(|d| d != is_dangling)
                || !filters.label_match(&entry.labels)
                || before.iter().any(|t| entry.created_unix >= *t)
                || since.iter().any(|t| entry.created_unix <= *t)
            {
                continue;
            }
            if let Some(patterns) = filters.values("reference") {
                // Only the references that match are listed, as moby lists them.
                let keep = |t: &String| patterns.iter().any(|p| reference_matches(p, t));
                tags.retain(keep);
                digests.retain(keep);
                if tags.is_empty() && digests.is_empty() {
                    continue;
                }
            }
            let id = &entry.resolved.id;
            out.push(ListedImage {
                shared_size: shared.as_ref().map(|s| s.get(id).copied().unwrap_or(0)),
                containers: in_use.as_ref().map(|c| c.get(id).copied().unwrap_or(0)),
                entry: entry.clone(),
                tags,
                digests,
            });
        }
        out.sort_by(|a, b| {
            (b.entry.created_unix.cmp(&a.entry.created_unix))
                .then_with(|| a.entry.resolved.id.cmp(&b.entry.resolved.id))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_within_path_components() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(reference_matches("*:latest", "busybox:latest"));
        assert!(!reference_matches("alpine", "busybox:latest"));
        assert!(!reference_matches("*", "library/x:1"));
        assert!(reference_matches("*/*", "library/x:1"));
        assert!(reference_matches("localhost:5000/x", "localhost:5000/x:1"));
        assert!(reference_matches("x?y", "xay@sha256:00"));
        assert!(!reference_matches("x?y", "x/y"));
    }

    #[test]
    fn dangling_takes_moby_booleans() {
        let f = |v: &str| {
            let mut f = Filters::new();
            f.add("dangling", v);
            dangling_filter(&f)
        };
        assert_eq!(f("1").unwrap(), Some(true));
        assert_eq!(f("false").unwrap(), Some(false));
        assert_eq!(
            f("maybe").unwrap_err().message,
            "Invalid filter 'dangling=[maybe]'"
        );
        assert_eq!(dangling_filter(&Filters::new()).unwrap(), None);
    }
}
