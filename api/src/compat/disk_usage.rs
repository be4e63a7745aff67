//! The shapes of `GET /system/df` across versions.

use crate::version::ApiVersion;

/// Which parts of the answer a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskUsageShape {
    /// The per-object lists (`LayersSize`, `Images`, `Containers`, `Volumes`, `BuildCache`).
    pub legacy_lists: bool,
    /// `ImagesUsage`, `ContainersUsage`, `VolumesUsage`, `BuildCacheUsage` (from 1.52).
    pub usage_summaries: bool,
    /// The summaries carry their `Items` (`verbose=1`).
    pub usage_items: bool,
}

/// Below 1.52 only the lists. From 1.52 the usage summaries, and the lists too unless the
/// client asked for `verbose` (which tells moby it knows the new shape; moby 29 still sends
/// both otherwise, although the changelog announced the lists' end for 1.53).
pub fn usage_summaries_from_1_52(v: ApiVersion, verbose: bool) -> DiskUsageShape {
    if v.lt(1, 52) {
        return DiskUsageShape {
            legacy_lists: true,
            usage_summaries: false,
            usage_items: false,
        };
    }
    DiskUsageShape {
        legacy_lists: !verbose,
        usage_summaries: true,
        usage_items: verbose,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_from_1_52_and_verbose_drops_the_lists() {
        let old = usage_summaries_from_1_52(ApiVersion::new(1, 51), true);
        assert!(old.legacy_lists && !old.usage_summaries && !old.usage_items);
        let new = usage_summaries_from_1_52(ApiVersion::new(1, 52), false);
        assert!(new.legacy_lists && new.usage_summaries && !new.usage_items);
        let verbose = usage_summaries_from_1_52(ApiVersion::new(1, 53), true);
        assert!(!verbose.legacy_lists && verbose.usage_summaries && verbose.usage_items);
    }
}
