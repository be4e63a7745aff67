//! `/networks`: create, list (with filters), inspect, connect, disconnect, remove, prune.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use berth_engine::network::{IpamConfig, Network};
use http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::error::ApiError;
use crate::extract::{QueryParams, go_json_body};
use crate::types::responses::NetworkCreateResponse;
use crate::version::ApiVersion;
use crate::wire;

/// A network as `GET /networks` lists it (moby's `network.Summary`; `Containers` stays empty
/// there, as dockerd 20.10 sends it).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = NetworkSummary)]
pub struct NetworkView {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Created")]
    pub created: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: IpamView,
    #[serde(rename = "Internal")]
    pub internal: bool,
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    #[serde(rename = "ConfigFrom")]
    pub config_from: wire::ConfigReference,
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, EndpointResource>,
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// `GET /networks/{id}` (moby's `network.Inspect`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkInspect {
    #[serde(flatten)]
    pub network: NetworkView,
    /// From API 1.52.
    #[serde(rename = "Status", skip_serializing_if = "Option::is_none")]
    pub status: Option<NetworkStatus>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = NetworkIPAM)]
pub struct IpamView {
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Options")]
    pub options: Option<BTreeMap<String, String>>,
    /// Each pool as given (a gateway berthd chose is not added).
    #[serde(rename = "Config")]
    pub config: Vec<wire::IPAMConfig>,
}

/// A container on the network, in network inspect.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointResource {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `Status`: `{"IPAM": {"Subnets": {subnet: counts}}}`, without `Subnets` when the network
/// has none.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NetworkStatus {
    #[serde(rename = "IPAM")]
    pub ipam: IpamStatus,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[schema(as = IPAMStatus)]
pub struct IpamStatus {
    #[serde(rename = "Subnets", skip_serializing_if = "Option::is_none")]
    pub subnets: Option<BTreeMap<String, SubnetStatus>>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SubnetStatus {
    #[serde(rename = "IPsInUse")]
    pub ips_in_use: u64,
    #[serde(rename = "DynamicIPsAvailable")]
    pub dynamic_ips_available: u64,
}

fn ipam_pool(c: &IpamConfig) -> wire::IPAMConfig {
    let given = |s: &String| (!s.is_empty()).then(|| s.clone());
    wire::IPAMConfig {
        subnet: Some(c.subnet.clone()),
        ip_range: given(&c.ip_range),
        gateway: given(&c.gateway),
        auxiliary_addresses: (!c.aux_addresses.is_empty()).then(|| c.aux_addresses.clone()),
    }
}

/// A network as the API shows it; `containers` only when inspected.
fn network_view(s: &AppState, n: &Network, with_containers: bool) -> NetworkView {
    let mut containers = BTreeMap::new();
    if with_containers {
        for (c, e) in s.engine.containers().network_endpoints(&n.id) {
            containers.insert(
                c.id.clone(),
                EndpointResource {
                    name: c.name.trim_start_matches('/').to_string(),
                    endpoint_id: e.endpoint_id.clone(),
                    mac_address: e.mac.clone(),
                    ipv4_address: format!("{}/{}", e.ip, e.prefix),
                    ipv6_address: if e.ip6.is_empty() {
                        String::new()
                    } else {
                        format!("{}/{}", e.ip6, e.prefix6)
                    },
                },
            );
        }
    }
    let config: Vec<wire::IPAMConfig> = if n.driver != "bridge" {
        vec![]
    } else if n.ipam_config.iter().all(|c| c.subnet.contains(':')) {
        // The IPv4 subnet berthd chose comes first, then the IPv6 one given.
        let chosen = wire::IPAMConfig {
            subnet: Some(n.subnet.clone()),
            gateway: Some(n.gateway.clone()),
            ..Default::default()
        };
        std::iter::once(chosen)
            .chain(n.ipam_config.iter().map(ipam_pool))
            .collect()
    } else {
        n.ipam_config.iter().map(ipam_pool).collect()
    };
    NetworkView {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: "local".into(),
        driver: n.driver.clone(),
        enable_ipv6: n.enable_ipv6,
        ipam: IpamView {
            driver: "default".into(),
            options: n.ipam_options.clone(),
            config,
        },
        internal: n.internal,
        attachable: n.attachable,
        ingress: false,
        config_from: wire::ConfigReference {
            network: Some(String::new()),
        },
        config_only: false,
        containers,
        options: n.options.clone(),
        labels: n.labels.clone(),
    }
}

/// `POST /networks/create`: 201 with the ID; a taken name is a 409 (compose relies on it).
#[utoipa::path(post, path = "/networks/create", tag = "Network",
    request_body = wire::NetworkCreateRequest,
    responses((status = 201, body = NetworkCreateResponse), (status = 409, description = "Name taken")))]
pub async fn create(
    State(s): State<AppState>,
    req: Request,
) -> Result<(StatusCode, Json<NetworkCreateResponse>), ApiError> {
    let req: wire::NetworkCreateRequest = go_json_body(req, "types.NetworkCreateRequest")
        .await?
        .unwrap_or_default();
    let n = s
        .engine
        .networks()
        .create_with_bridge(req.into_create_network()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NetworkCreateResponse {
            id: n.id,
            warning: String::new(),
        }),
    ))
}

/// `GET /networks`: filters `driver`, `id`, `label`, `name`, `scope`, `type`, `dangling`.
#[utoipa::path(get, path = "/networks", tag = "Network",
    responses((status = 200, body = Vec<NetworkView>), (status = 400, description = "Bad filter")))]
pub async fn list(
    State(s): State<AppState>,
    q: QueryParams,
) -> Result<Json<Vec<NetworkView>>, ApiError> {
    let list = s.engine.list_networks(&q.filters()?)?;
    let out = list.iter().map(|n| network_view(&s, n, false)).collect();
    Ok(Json(out))
}

/// `GET /networks/{id}`.
#[utoipa::path(get, path = "/networks/{id}", tag = "Network", params(("id" = String, Path, description = "Network ID or name")),
    responses((status = 200, body = NetworkInspect), (status = 404, description = "No such network")))]
pub async fn inspect(
    State(s): State<AppState>,
    Extension(version): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> Result<Json<NetworkInspect>, ApiError> {
    let n = s.engine.networks().get(&id)?;
    let status = crate::compat::network::ipam_status_from_1_52(version)
        .then(|| network_status(&s.engine.networks().ipam_status(&n)));
    Ok(Json(NetworkInspect {
        network: network_view(&s, &n, true),
        status,
    }))
}

/// The IPAM usage of each subnet (`Status`, API 1.52); `null` subnets when there are none.
fn network_status(subnets: &[berth_engine::network::SubnetStatus]) -> NetworkStatus {
    let any = !subnets.is_empty();
    let subnets = subnets.iter().map(|st| {
        let usage = SubnetStatus {
            ips_in_use: st.ips_in_use,
            dynamic_ips_available: st.dynamic_ips_available,
        };
        (st.subnet.clone(), usage)
    });
    NetworkStatus {
        ipam: IpamStatus {
            subnets: any.then(|| subnets.collect()),
        },
    }
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
        .remove_with_bridge(&id, |n| !containers.network_endpoints(&n.id).is_empty())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn container_of(container: Option<String>) -> Result<String, ApiError> {
    match container {
        Some(c) if !c.is_empty() => Ok(c),
        _ => Err(ApiError::invalid("invalid name or ID supplied: \"\"")),
    }
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
    let req: wire::NetworkConnectRequest = go_json_body(req, "types.NetworkConnect")
        .await?
        .unwrap_or_default();
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
    let req: wire::NetworkDisconnectRequest = go_json_body(req, "types.NetworkDisconnect")
        .await?
        .unwrap_or_default();
    let container = container_of(req.container)?;
    s.engine.containers().disconnect(&id, &container).await?;
    Ok(StatusCode::OK)
}
