#![recursion_limit = "256"]
//! The Docker Engine API surface of Berth: version handling, routes, wire types, error
//! mapping, listeners. Handlers call into `berth_engine` and never speak gRPC.

pub mod compat;
pub mod config;
pub mod error;
pub mod extract;
pub mod listen;
pub mod routes;
pub mod stream;
pub mod types;
pub mod version;
pub mod websocket;
pub mod wire;

use axum::Router;
use axum::middleware::from_fn_with_state;
use utoipa::OpenApi;

pub use routes::AppState;

/// The whole HTTP application: the version prefix is stripped and `OPTIONS` answered before
/// routing, then the route table runs.
pub fn app(state: AppState) -> Router {
    let flags = state.flags;
    Router::new()
        .fallback_service(routes::router(state))
        .layer(from_fn_with_state(flags, version::options_any))
        .layer(tower::util::MapRequestLayer::new(
            version::strip_version_prefix,
        ))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Berth Engine API",
        description = "The Docker Engine API as served by berthd. Paths are also served under a /v{version} prefix.",
        version = "1.56"
    ),
    paths(
        routes::system::ping,
        routes::system::ping_head,
        routes::system::version,
        routes::system::info,
        routes::system::disk_usage,
        routes::events::events,
        routes::images::list,
        routes::images::load,
        routes::images::inspect,
        routes::images::history,
        routes::images::attestations,
        routes::images::tag,
        routes::images::remove,
        routes::images::save_many,
        routes::images::create,
        routes::containers::create,
        routes::containers::list,
        routes::containers::inspect,
        routes::containers::update,
        routes::containers::start,
        routes::containers::stop,
        routes::containers::restart,
        routes::containers::kill,
        routes::containers::pause,
        routes::containers::unpause,
        routes::containers::rename,
        routes::containers::remove,
        routes::containers::resize,
        routes::containers::export,
        routes::containers::logs,
        routes::containers::attach,
        routes::containers::top,
        routes::containers::changes,
        routes::containers::wait,
        routes::containers::stats,
        routes::archive::head,
        routes::archive::get,
        routes::archive::put,
        routes::exec::start,
        routes::exec::resize,
        routes::volumes::remove,
        routes::volumes::list,
        routes::volumes::inspect,
        routes::exec::inspect,
        routes::networks::list,
        routes::networks::inspect,
        routes::images::push,
        routes::images::save,
        routes::images::search,
        routes::images::distribution,
        routes::build::build,
        routes::containers::attach_ws,
        routes::unsupported::session,
        routes::networks::remove,
        routes::containers::commit,
        routes::prune::containers,
        routes::prune::images,
        routes::prune::networks,
        routes::prune::build_cache,
        routes::volumes::prune,
        routes::images::auth,
        routes::exec::create,
        routes::networks::create,
        routes::networks::connect,
        routes::networks::disconnect,
        routes::volumes::create,
    ),
    components(schemas(
        types::system::SystemVersion,
        types::system::SystemInfo,
        types::events::EventMessage,
        types::image::ImageSummary,
        types::image::ImageInspect,
        types::image::HistoryItem,
        types::image::DeleteResponseItem,
    )),
    tags(
        (name = "System"),
        (name = "Image"),
        (name = "Container"),
        (name = "Exec"),
        (name = "Network"),
        (name = "Volume"),
        (name = "Session"),
        (name = "Distribution")
    )
)]
pub struct ApiDoc;

/// The served OpenAPI document, pretty-printed, as committed under `openapi/`.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Operations (`METHOD path`) implemented beyond the documented ones: routes answered as
/// moby answers when a feature is off. Used by the coverage report.
pub const ANSWERED_AS_DISABLED: &[&str] = &[
    "PUT /volumes/{name}",
    "GET /swarm",
    "POST /swarm/init",
    "POST /swarm/join",
    "POST /swarm/leave",
    "POST /swarm/update",
    "POST /swarm/unlock",
    "GET /swarm/unlockkey",
    "GET /services",
    "POST /services/create",
    "GET /services/{id}",
    "DELETE /services/{id}",
    "POST /services/{id}/update",
    "GET /services/{id}/logs",
    "GET /nodes",
    "GET /nodes/{id}",
    "DELETE /nodes/{id}",
    "POST /nodes/{id}/update",
    "GET /tasks",
    "GET /tasks/{id}",
    "GET /tasks/{id}/logs",
    "GET /secrets",
    "POST /secrets/create",
    "GET /secrets/{id}",
    "DELETE /secrets/{id}",
    "POST /secrets/{id}/update",
    "GET /configs",
    "POST /configs/create",
    "GET /configs/{id}",
    "DELETE /configs/{id}",
    "POST /configs/{id}/update",
    "GET /plugins",
    "GET /plugins/privileges",
    "POST /plugins/pull",
    "POST /plugins/create",
    "GET /plugins/{name}/json",
    "DELETE /plugins/{name}",
    "POST /plugins/{name}/enable",
    "POST /plugins/{name}/disable",
    "POST /plugins/{name}/push",
    "POST /plugins/{name}/set",
    "POST /plugins/{name}/upgrade",
];
