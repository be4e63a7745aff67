//! Rendered `GET /containers/{id}/json` bodies, reused while nothing they show has changed.
//!
//! A body depends on the container's record, the request's API version and the container's
//! live exec IDs. Records are copy-on-write snapshots (`Arc::make_mut` under the record
//! lock), and an entry holds its snapshot: while it does, any change to the record is
//! written into a fresh allocation, so pointer equality with the current snapshot proves
//! the record is the one the body was rendered from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use berth_engine::container::model::ContainerRecord;

use crate::version::ApiVersion;

/// Containers whose body is kept; polling clients watch a few containers, so a small
/// table covers them, and filling it simply starts it over.
const CAPACITY: usize = 32;

struct Entry {
    record: Arc<ContainerRecord>,
    version: ApiVersion,
    exec_ids: Vec<String>,
    body: Bytes,
}

#[derive(Default)]
pub struct InspectCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl InspectCache {
    /// The body for this record, version and exec list: the kept one if it was rendered
    /// from exactly these, otherwise `render`'s, kept for next time.
    pub fn body<E>(
        &self,
        record: &Arc<ContainerRecord>,
        version: ApiVersion,
        exec_ids: Vec<String>,
        render: impl FnOnce() -> Result<Bytes, E>,
    ) -> Result<Bytes, E> {
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = entries.get(&record.id)
                && Arc::ptr_eq(&e.record, record)
                && e.version == version
                && e.exec_ids == exec_ids
            {
                return Ok(e.body.clone());
            }
        }
        let body = render()?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&record.id) {
            entries.clear();
        }
        entries.insert(
            record.id.clone(),
            Entry {
                record: record.clone(),
                version,
                exec_ids,
                body: body.clone(),
            },
        );
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::convert::Infallible;

    use super::*;

    fn record() -> Arc<ContainerRecord> {
        Arc::new(
            serde_json::from_str(include_str!(
                "../../../engine/tests/fixtures/record-layout-1/config.v2.json"
            ))
            .expect("the fixture reads"),
        )
    }

    /// Renders `record`'s name through the cache, counting renders.
    fn name_of(
        cache: &InspectCache,
        record: &Arc<ContainerRecord>,
        v: ApiVersion,
        execs: &[&str],
        renders: &Cell<u32>,
    ) -> Bytes {
        let execs = execs.iter().map(|e| e.to_string()).collect();
        cache
            .body(record, v, execs, || {
                renders.set(renders.get() + 1);
                Ok::<_, Infallible>(Bytes::from(record.name.clone()))
            })
            .unwrap()
    }

    #[test]
    fn a_body_is_reused_only_for_the_same_snapshot_version_and_execs() {
        let cache = InspectCache::default();
        let renders = Cell::new(0);
        let v = ApiVersion::new(1, 41);
        let mut live = record();
        let first = name_of(&cache, &live, v, &[], &renders);
        assert_eq!(name_of(&cache, &live, v, &[], &renders), first);
        assert_eq!(renders.get(), 1);

        name_of(&cache, &live, ApiVersion::new(1, 44), &[], &renders);
        name_of(&cache, &live, ApiVersion::new(1, 44), &["e1"], &renders);
        assert_eq!(renders.get(), 3);

        // A change made the way the store makes it, while the cache holds the old snapshot,
        // shows in the next body.
        Arc::make_mut(&mut live).name = "/renamed".into();
        let after = name_of(&cache, &live, ApiVersion::new(1, 44), &["e1"], &renders);
        assert_eq!(&after[..], b"/renamed");
        assert_eq!(renders.get(), 4);
    }

    #[test]
    fn a_full_table_starts_over() {
        let cache = InspectCache::default();
        let renders = Cell::new(0);
        let v = ApiVersion::new(1, 41);
        let records: Vec<_> = (0..=CAPACITY)
            .map(|i| {
                let mut r = record();
                Arc::make_mut(&mut r).id = format!("{i:064}");
                r
            })
            .collect();
        for r in &records {
            name_of(&cache, r, v, &[], &renders);
        }
        let kept = cache.entries.lock().unwrap().len();
        assert_eq!(kept, 1);
    }
}
