//! Event shapes of older API versions.

use crate::types::events::EventMessage;
use crate::version::ApiVersion;

/// Below 1.52, container and image events also carry `status`, `id` and `from`; CLIs up to
/// v24 and compose read them (moby `backFillLegacy`).
pub fn legacy_fields_before_1_52(msg: &mut EventMessage, v: ApiVersion) {
    if !v.lt(1, 52) {
        return;
    }
    match msg.kind.as_str() {
        "container" => {
            msg.status = Some(msg.action.clone());
            msg.id = Some(msg.actor.id.clone());
            msg.from = msg.actor.attributes.get("image").cloned();
        }
        "image" => {
            msg.status = Some(msg.action.clone());
            msg.id = Some(msg.actor.id.clone());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::types::events::EventActor;

    fn msg(kind: &str) -> EventMessage {
        let mut attributes = BTreeMap::new();
        attributes.insert("image".to_string(), "busybox".to_string());
        EventMessage {
            status: None,
            id: None,
            from: None,
            kind: kind.into(),
            action: "start".into(),
            actor: EventActor {
                id: "abc".into(),
                attributes,
            },
            scope: "local".into(),
            time: 1,
            time_nano: 1,
        }
    }

    #[test]
    fn container_events_get_legacy_fields_below_1_52() {
        let mut m = msg("container");
        legacy_fields_before_1_52(&mut m, ApiVersion::new(1, 51));
        assert_eq!(m.status.as_deref(), Some("start"));
        assert_eq!(m.id.as_deref(), Some("abc"));
        assert_eq!(m.from.as_deref(), Some("busybox"));
        let mut m = msg("container");
        legacy_fields_before_1_52(&mut m, ApiVersion::new(1, 52));
        assert!(m.status.is_none() && m.id.is_none() && m.from.is_none());
    }

    #[test]
    fn daemon_events_never_get_legacy_fields() {
        let mut m = msg("daemon");
        legacy_fields_before_1_52(&mut m, ApiVersion::new(1, 41));
        assert!(m.status.is_none());
    }
}
