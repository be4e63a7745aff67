//! `docker ps`: the containers a listing shows, filtered as moby filters them, newest
//! first, and the ports a running container lists.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::model::{ContainerRecord, Status};
use super::service::ContainerService;
use crate::filters::Filters;
use crate::image::store::ImageStore;
use crate::{Error, Result};

/// The filter terms `GET /containers/json` takes.
const TERMS: &[&str] = &[
    "id",
    "name",
    "label",
    "annotation",
    "status",
    "exited",
    "ancestor",
    "before",
    "since",
    "volume",
    "network",
    "health",
    "is-task",
    "publish",
    "expose",
    "isolation",
];

const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// What a listing asks for.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// Stopped containers too (implied by `limit`, `status` and `exited`).
    pub all: bool,
    /// At most this many, newest first.
    pub limit: Option<usize>,
    pub filters: Filters,
}

/// Host addresses and ports of a published container port.
pub type Bindings = Vec<(String, u16)>;

impl ContainerRecord {
    /// While running, each exposed or published port (`80/tcp`) with the host bindings it
    /// has; an unbound host address is listed as both `0.0.0.0` and `::`, as dockerd lists it.
    pub fn listed_ports(&self) -> BTreeMap<String, Bindings> {
        let mut out: BTreeMap<String, Bindings> = BTreeMap::new();
        if !self.state.running() {
            return out;
        }
        for key in self.config.exposed_ports() {
            out.entry(key.clone()).or_default();
        }
        for p in &self.ports {
            let bindings = out
                .entry(format!("{}/{}", p.container_port, p.protocol))
                .or_default();
            if p.host_ip.is_empty() {
                bindings.push(("0.0.0.0".into(), p.host_port));
                bindings.push(("::".into(), p.host_port));
            } else {
                bindings.push((p.host_ip.clone(), p.host_port));
            }
        }
        out
    }

    /// `HostConfig.NetworkMode` as listings show it (`bridge` for the default).
    pub fn network_mode_shown(&self) -> &str {
        match self.host_config.network_mode() {
            "" | "default" => "bridge",
            m => m,
        }
    }
}

/// `expose` and `publish` values (`80`, `8000-8080/udp`) as `port/proto` keys.
fn port_filter(values: Option<&BTreeSet<String>>, what: &str) -> Result<Option<Vec<String>>> {
    let Some(values) = values else {
        return Ok(None);
    };
    let mut ports = Vec::new();
    for v in values {
        if v.contains(':') {
            return Err(Error::invalid(format!(
                "filter for '{what}' should not contain ':': {v}"
            )));
        }
        let (range, proto) = v.split_once('/').unwrap_or((v, "tcp"));
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        let parse = |p: &str| {
            p.parse::<u16>().map_err(|_| {
                Error::invalid(format!(
                    "error while looking up for {what} {v}: strconv.ParseUint: parsing {p:?}: invalid syntax"
                ))
            })
        };
        let (start, end) = (parse(start)?, parse(end)?);
        ports.extend((start..=end.max(start)).map(|p| format!("{p}/{proto}")));
    }
    Ok(Some(ports))
}

/// The `name` filter: a regular expression matched against the name with and without its
/// leading `/` (one that does not compile matches nothing, as in moby).
fn name_matches(pattern: &str, name: &str) -> bool {
    regex::Regex::new(pattern)
        .is_ok_and(|re| re.is_match(name) || re.is_match(name.trim_start_matches('/')))
}

impl ContainerService {
    /// `GET /containers/json`: the containers the query selects, newest first.
    pub async fn list_matching(
        &self,
        images: &ImageStore,
        query: &ListQuery,
    ) -> Result<Vec<Arc<ContainerRecord>>> {
        let filters = &query.filters;
        filters.validate(TERMS)?;
        for st in filters.values("status").into_iter().flatten() {
            if !STATUSES.contains(&st.as_str()) {
                return Err(Error::invalid(format!("Invalid filter 'status={st}'")));
            }
        }
        for h in filters.values("health").into_iter().flatten() {
            if !["starting", "healthy", "unhealthy", "none"].contains(&h.as_str()) {
                return Err(Error::invalid(format!(
                    "Unrecognised filter value for health: {h}"
                )));
            }
        }
        let is_task = match filters.values("is-task").and_then(|v| v.iter().next()) {
            Some(v) if v == "true" => Some(true),
            Some(v) if v == "false" => Some(false),
            Some(v) => return Err(Error::invalid(format!("Invalid filter 'is-task=[{v}]'"))),
            None => None,
        };
        let exposed = port_filter(filters.values("expose"), "expose")?;
        let published = port_filter(filters.values("publish"), "publish")?;
        let all = query.all
            || query.limit.is_some()
            || filters.contains("status")
            || filters.contains("exited");
        // `ancestor` names an image: containers of that image ID match however they named it.
        let mut ancestor_ids = Vec::new();
        for a in filters.values("ancestor").into_iter().flatten() {
            if let Ok(e) = images.find(a).await {
                ancestor_ids.push(e.resolved.id);
            }
        }
        let mut list = self.list();
        list.sort_by(|a, b| b.created.cmp(&a.created));
        let created_of = |term: &str| {
            let name = filters.values(term)?.iter().next()?;
            list.iter()
                .find(|c| c.id.starts_with(name.as_str()) || c.name == format!("/{name}"))
                .map(|c| c.created.clone())
        };
        let (before, since) = (created_of("before"), created_of("since"));
        let matches = |c: &ContainerRecord| {
            let lists = |wanted: &Option<Vec<String>>, public: bool| {
                wanted.as_ref().is_none_or(|w| {
                    c.listed_ports().iter().any(|(key, bindings)| {
                        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
                        if public {
                            bindings
                                .iter()
                                .any(|(_, host)| w.contains(&format!("{host}/{proto}")))
                        } else {
                            w.contains(&format!("{port}/{proto}"))
                        }
                    })
                })
            };
            (all || c.state.running())
                && filters.prefix_match_any("id", &[&c.id])
                && filters
                    .values("name")
                    .is_none_or(|v| v.iter().any(|n| name_matches(n, &c.name)))
                && filters.label_match(&c.labels())
                && filters.key_value_match("annotation", &c.annotations())
                && filters.exact_match("status", c.state.status.as_str())
                && filters.values("exited").is_none_or(|v| {
                    c.state.status == Status::Exited && v.contains(&c.state.exit_code.to_string())
                })
                && filters.values("ancestor").is_none_or(|v| {
                    ancestor_ids.contains(&c.image_id)
                        || v.iter().any(|a| {
                            c.image_name == *a
                                || c.config.image() == a
                                || c.image_id
                                    .trim_start_matches("sha256:")
                                    .starts_with(a.trim_start_matches("sha256:"))
                        })
                })
                && filters.exact_match("health", c.health_status())
                // Swarm tasks are not run by this daemon.
                && is_task != Some(true)
                && filters.values("volume").is_none_or(|v| {
                    c.mounts.iter().any(|m| {
                        v.contains(&m.name) || v.contains(&m.source) || v.contains(&m.destination)
                    })
                })
                && filters.values("network").is_none_or(|v| {
                    v.contains(c.network_mode_shown())
                        || c.networks.iter().any(|(name, e)| {
                            v.contains(name)
                                || (!e.network_id.is_empty()
                                    && v.iter().any(|n| e.network_id.starts_with(n.as_str())))
                        })
                })
                && before.as_ref().is_none_or(|b| c.created < *b)
                && since.as_ref().is_none_or(|s| c.created > *s)
                && lists(&exposed, false)
                && lists(&published, true)
        };
        let mut out: Vec<Arc<ContainerRecord>> = list.into_iter().filter(|c| matches(c)).collect();
        if let Some(limit) = query.limit {
            out.truncate(limit);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_filters_read_ranges_and_protocols() {
        let values: BTreeSet<String> = ["80".to_string(), "8000-8001/udp".to_string()].into();
        assert_eq!(
            port_filter(Some(&values), "expose").unwrap().unwrap(),
            ["80/tcp", "8000/udp", "8001/udp"]
        );
        let bad: BTreeSet<String> = ["1:2".to_string()].into();
        assert_eq!(
            port_filter(Some(&bad), "publish").unwrap_err().message,
            "filter for 'publish' should not contain ':': 1:2"
        );
    }
}
