//! Network shapes across versions.

use crate::version::ApiVersion;

/// From 1.52 network inspect reports how full each subnet is (`Status.IPAM`).
pub fn ipam_status_from_1_52(v: ApiVersion) -> bool {
    v.ge(1, 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipam_status_from_1_52() {
        assert!(!super::ipam_status_from_1_52(ApiVersion::new(1, 51)));
        assert!(super::ipam_status_from_1_52(ApiVersion::new(1, 52)));
    }
}
