//! The shapes of `GET /system/df` across versions.

use crate::version::ApiVersion;

/// Which parts of the answer a request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskUsageShape {
    /// The per-object lists (`LayersSize`, `Images`, `Containers`, `Volumes`, `BuildCache`).
    pub legacy_lists: bool,
    /// `ImageUsage`, `ContainerUsage`, `VolumeUsage`, `BuildCacheUsage` (from 1.52), with
    /// their `Items`.
    pub usage_summaries: bool,
}

/// Below 1.52 only the lists. From 1.52 the usage summaries, and the lists too unless the
/// client asked for `verbose` (which tells moby it knows the new shape; moby still sends
/// both otherwise, although the changelog announced the lists' end for 1.53).
pub fn usage_summaries_from_1_52(v: ApiVersion, verbose: bool) -> DiskUsageShape {
    if v.lt(1, 52) {
        return DiskUsageShape {
            legacy_lists: true,
            usage_summaries: false,
        };
    }
    DiskUsageShape {
        legacy_lists: !verbose,
        usage_summaries: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_from_1_52_and_verbose_drops_the_lists() {
        let old = usage_summaries_from_1_52(ApiVersion::new(1, 51), true);
        assert!(old.legacy_lists && !old.usage_summaries);
        let new = usage_summaries_from_1_52(ApiVersion::new(1, 52), false);
        assert!(new.legacy_lists && new.usage_summaries);
        let verbose = usage_summaries_from_1_52(ApiVersion::new(1, 53), true);
        assert!(!verbose.legacy_lists && verbose.usage_summaries);
    }
}
