//! `docker network ls`: the networks a listing shows, filtered as moby filters them.

use super::{Network, PREDEFINED};
use crate::filters::Filters;
use crate::{Engine, Error, Result};

/// The filter terms `GET /networks` takes.
const TERMS: &[&str] = &["driver", "id", "label", "name", "scope", "type", "dangling"];

impl Engine {
    /// `GET /networks`: the networks the filters select.
    pub fn list_networks(&self, filters: &Filters) -> Result<Vec<Network>> {
        filters.validate(TERMS)?;
        if let Some(bad) = filters
            .values("type")
            .and_then(|types| types.iter().find(|t| *t != "custom" && *t != "builtin"))
        {
            return Err(Error::invalid(format!("invalid filter: 'type'='{bad}'")));
        }
        let dangling = filters
            .bool_term("dangling")
            .map_err(|v| Error::invalid(format!("invalid filter 'dangling={v}'")))?;
        // Every network here is local.
        if !filters.exact_match("scope", "local") {
            return Ok(Vec::new());
        }
        let predefined = |n: &Network| PREDEFINED.contains(&n.name.as_str());
        let mut list = self.networks().list();
        list.retain(|n| {
            let kind = if predefined(n) { "builtin" } else { "custom" };
            filters.exact_match("driver", &n.driver)
                && filters.prefix_match_any("id", &[&n.id])
                && filters.label_match(&n.labels)
                && filters
                    .values("name")
                    .is_none_or(|vs| vs.iter().any(|v| n.name.contains(v.as_str())))
                && filters.exact_match("type", kind)
                && dangling.is_none_or(|d| {
                    // As on dockerd: only running containers (endpoints) count.
                    let unused =
                        !predefined(n) && self.containers().network_endpoints(&n.id).is_empty();
                    unused == d
                })
        });
        Ok(list)
    }
}
