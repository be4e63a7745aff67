//! `/networks`: create, list (with filters), inspect, connect, disconnect, remove, prune.

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use berth_engine::network::{CreateNetwork, IpamConfig, Network, PREDEFINED};
use http::StatusCode;
use serde_json::{Map, Value, json};

use super::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::version::ApiVersion;
use crate::wire;

/// One IPAM pool as given (a gateway berthd chose is not added).
fn ipam_config_json(c: &berth_engine::network::IpamConfig) -> Value {
    let mut o = Map::new();
    o.insert("Subnet".into(), json!(c.subnet));
    if !c.ip_range.is_empty() {
        o.insert("IPRange".into(), json!(c.ip_range));
    }
    if !c.gateway.is_empty() {
        o.insert("Gateway".into(), json!(c.gateway));
    }
    if !c.aux_addresses.is_empty() {
        o.insert("AuxiliaryAddresses".into(), json!(c.aux_addresses));
    }
    Value::Object(o)
}

/// A network as `GET /networks/{id}` shows it; `containers` only when inspected.
fn network_json(s: &AppState, n: &Network, with_containers: bool) -> Value {
    let mut containers = Map::new();
    if with_containers {
        for (c, e) in s.engine.containers().network_endpoints(&n.id) {
            containers.insert(
                c.id.clone(),
                json!({
                    "Name": c.name.trim_start_matches('/'),
                    "EndpointID": e.endpoint_id,
                    "MacAddress": e.mac,
                    "IPv4Address": format!("{}/{}", e.ip, e.prefix),
                    "IPv6Address": if e.ip6.is_empty() {
                        String::new()
                    } else {
                        format!("{}/{}", e.ip6, e.prefix6)
                    },
                }),
            );
        }
    }
    let config: Vec<Value> = if n.driver != "bridge" {
        vec![]
    } else if n.ipam_config.iter().all(|c| c.subnet.contains(':')) {
        // The IPv4 subnet berthd chose comes first, then the IPv6 one given.
        std::iter::once(json!({"Subnet": n.subnet, "Gateway": n.gateway}))
            .chain(n.ipam_config.iter().map(ipam_config_json))
            .collect()
    } else {
        n.ipam_config.iter().map(ipam_config_json).collect()
    };
    json!({
        "Name": n.name,
        "Id": n.id,
        "Created": n.created,
        "Scope": "local",
        "Driver": n.driver,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": n.ipam_options,
            "Config": config,
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": n.options,
        "Labels": n.labels,
    })
}

/// `POST /networks/create`: 201 with the ID; a taken name is a 409 (compose relies on it).
#[utoipa::path(post, path = "/networks/create", tag = "Network",
    request_body = wire::NetworkCreateRequest,
    responses((status = 201, description = "Created"), (status = 409, description = "Name taken")))]
pub async fn create(
    State(s): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = super::containers::json_body(req)
        .await?
        .unwrap_or(Value::Null);
    let req: wire::NetworkCreateRequest =
        wire::go_json::decode(body, "types.NetworkCreateRequest").map_err(invalid_json)?;
    let name = req.name.unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::invalid("network name must not be empty"));
    }
    let ipam = req.ipam.unwrap_or_default();
    let ipam_config = ipam
        .config
        .unwrap_or_default()
        .into_iter()
        .map(|c| IpamConfig {
            subnet: c.subnet.unwrap_or_default(),
            gateway: c.gateway.unwrap_or_default(),
            ip_range: c.ip_range.unwrap_or_default(),
            aux_addresses: c.auxiliary_addresses.unwrap_or_default(),
        })
        .collect();
    let n = s.engine.networks().create(CreateNetwork {
        name,
        driver: req.driver.unwrap_or_default(),
        internal: req.internal.unwrap_or_default(),
        attachable: req.attachable.unwrap_or_default(),
        enable_ipv6: req.enable_ipv6.unwrap_or_default(),
        labels: req.labels.unwrap_or_default(),
        options: req.options.unwrap_or_default(),
        ipam_driver: ipam.driver.unwrap_or_default(),
        ipam_config,
        ipam_options: ipam.options,
    })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Id": n.id, "Warning": ""})),
    ))
}

/// `GET /networks`: filters `driver`, `id`, `label`, `name`, `scope`, `type`, `dangling`.
pub async fn list(State(s): State<AppState>, q: QueryParams) -> Result<Json<Value>, ApiError> {
    let filters = q.filters()?;
    filters.validate(&["driver", "id", "label", "name", "scope", "type", "dangling"])?;
    if let Some(types) = filters.values("type")
        && let Some(bad) = types.iter().find(|t| *t != "custom" && *t != "builtin")
    {
        return Err(ApiError::invalid(format!("invalid filter: 'type'='{bad}'")));
    }
    let dangling = match filters.values("dangling").and_then(|v| v.iter().next()) {
        Some(v) if v == "true" || v == "1" => Some(true),
        Some(v) if v == "false" || v == "0" => Some(false),
        Some(v) => return Err(ApiError::invalid(format!("invalid filter 'dangling={v}'"))),
        None => None,
    };
    // Every network here is local.
    if !filters.exact_match("scope", "local") {
        return Ok(Json(json!([])));
    }
    let containers = s.engine.containers();
    let out: Vec<Value> = s
        .engine
        .networks()
        .list()
        .iter()
        .filter(|n| filters.exact_match("driver", &n.driver))
        .filter(|n| filters.prefix_match_any("id", &[&n.id]))
        .filter(|n| filters.label_match(&n.labels))
        .filter(|n| {
            filters
                .values("name")
                .is_none_or(|vs| vs.iter().any(|v| n.name.contains(v.as_str())))
        })
        .filter(|n| {
            let kind = if PREDEFINED.contains(&n.name.as_str()) {
                "builtin"
            } else {
                "custom"
            };
            filters.exact_match("type", kind)
        })
        .filter(|n| {
            dangling.is_none_or(|d| {
                // As on dockerd: only running containers (endpoints) count.
                let unused = !PREDEFINED.contains(&n.name.as_str())
                    && containers.network_endpoints(&n.id).is_empty();
                unused == d
            })
        })
        .map(|n| network_json(&s, n, false))
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `GET /networks/{id}`.
pub async fn inspect(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = s.engine.networks().get(&id)?;
    let mut out = network_json(&s, &n, true);
    if crate::compat::network::ipam_status_from_1_52(version) {
        out["Status"] = ipam_status_json(&s.engine.networks().ipam_status(&n));
    }
    Ok(Json(out))
}

/// `Status` of network inspect: `{"IPAM": {"Subnets": {subnet: counts}}}`, without
/// `Subnets` when the network has none.
fn ipam_status_json(subnets: &[berth_engine::network::SubnetStatus]) -> Value {
    let mut ipam = Map::new();
    if !subnets.is_empty() {
        let by_subnet: Map<String, Value> = subnets
            .iter()
            .map(|st| {
                (
                    st.subnet.clone(),
                    json!({"IPsInUse": st.ips_in_use, "DynamicIPsAvailable": st.dynamic_ips_available}),
                )
            })
            .collect();
        ipam.insert("Subnets".into(), Value::Object(by_subnet));
    }
    json!({"IPAM": ipam})
}

/// `DELETE /networks/{id}`: refused while running containers are on it.
#[utoipa::path(delete, path = "/networks/{id}", tag = "Network", params(("id" = String, Path, description = "Network ID or name")),
    responses((status = 204, description = "Removed"), (status = 403, description = "A predefined network"), (status = 404, description = "No such network")))]
pub async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let containers = s.engine.containers();
    s.engine
        .networks()
        .remove(&id, |n| !containers.network_endpoints(&n.id).is_empty())?;
    Ok(StatusCode::NO_CONTENT)
}

fn container_of(container: Option<String>) -> Result<String, ApiError> {
    match container {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(ApiError::invalid("invalid name or ID supplied: \"\"")),
    }
}

/// A decoding failure as moby's `httputils.ReadJSON` reports it.
fn invalid_json(e: wire::go_json::GoJsonError) -> ApiError {
    ApiError::invalid(format!("invalid JSON: {e}"))
}

/// `POST /networks/{id}/connect`.
#[utoipa::path(post, path = "/networks/{id}/connect", tag = "Network",
    request_body = wire::NetworkConnectRequest,
    responses((status = 200, description = "Connected"), (status = 404, description = "No such network or container")))]
pub async fn connect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let body = super::containers::json_body(req)
        .await?
        .unwrap_or(Value::Null);
    let req: wire::NetworkConnectRequest =
        wire::go_json::decode(body, "types.NetworkConnect").map_err(invalid_json)?;
    let container = container_of(req.container)?;
    // The endpoint's MacAddress is kept at every version: moby applies it from 1.54 and
    // drops it below, but dockerd 20.10 to 28 kept it and docker-py's suite expects that.
    let config = req.endpoint_config.unwrap_or_default().into();
    s.engine
        .containers()
        .connect(&id, &container, config)
        .await?;
    Ok(StatusCode::OK)
}

/// `POST /networks/{id}/disconnect`.
#[utoipa::path(post, path = "/networks/{id}/disconnect", tag = "Network",
    request_body = wire::NetworkDisconnectRequest,
    responses((status = 200, description = "Disconnected"), (status = 404, description = "No such network or container")))]
pub async fn disconnect(
    State(s): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<StatusCode, ApiError> {
    let body = super::containers::json_body(req)
        .await?
        .unwrap_or(Value::Null);
    let req: wire::NetworkDisconnectRequest =
        wire::go_json::decode(body, "types.NetworkDisconnect").map_err(invalid_json)?;
    let container = container_of(req.container)?;
    s.engine.containers().disconnect(&id, &container).await?;
    Ok(StatusCode::OK)
}
