//! Network shapes across versions.

use crate::version::ApiVersion;
use crate::wire::EndpointSettings;

/// From 1.52 network inspect reports how full each subnet is (`Status.IPAM`).
pub fn ipam_status_from_1_52(v: ApiVersion) -> bool {
    v.ge(1, 52)
}

/// Below 1.54 network connect ignored the endpoint's `MacAddress` (moby applied it only
/// from 1.54, although the field came with 1.44).
pub fn connect_mac_ignored_before_1_54(endpoint: &mut EndpointSettings, v: ApiVersion) {
    if v.lt(1, 54) {
        endpoint.mac_address = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_applies_the_mac_from_1_54() {
        let with_mac = || EndpointSettings {
            mac_address: Some("02:42:ac:11:00:42".into()),
            ..Default::default()
        };
        let mut old = with_mac();
        connect_mac_ignored_before_1_54(&mut old, ApiVersion::new(1, 53));
        assert_eq!(old.mac_address, None);
        let mut new = with_mac();
        connect_mac_ignored_before_1_54(&mut new, ApiVersion::new(1, 54));
        assert!(new.mac_address.is_some());
        assert!(!ipam_status_from_1_52(ApiVersion::new(1, 51)));
        assert!(ipam_status_from_1_52(ApiVersion::new(1, 52)));
    }
}
