//! The route table, in one place. Handlers live in one module per area and stay thin:
//! parse, call the engine once, format.

pub mod archive;
pub mod build;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod inspect_cache;
pub mod networks;
pub mod prune;
pub mod system;
pub mod unsupported;
pub mod volumes;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, any, delete, get, post, put};
use berth_engine::Engine;

use crate::error::page_not_found;
use crate::version::{ApiVersion, DaemonFlags, RouteMinimum, route_minimum, version_middleware};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub flags: DaemonFlags,
    /// Turns true when the daemon starts shutting down; endless streams end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub inspect_cache: Arc<inspect_cache::InspectCache>,
}

/// Wraps a route with moby's per-route minimum API version.
fn since(
    major: u32,
    minor: u32,
    method: &'static str,
    route: &'static str,
    router: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    router.route_layer(from_fn_with_state(
        RouteMinimum {
            version: ApiVersion::new(major, minor),
            method,
            route,
        },
        route_minimum,
    ))
}

/// Every route, on bare paths; the version prefix is stripped before this router runs.
pub fn router(state: AppState) -> Router {
    let flags = state.flags;
    Router::new()
        // system
        .route("/_ping", get(system::ping).head(system::ping_head))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::disk_usage))
        .route("/events", get(events::events))
        .route("/auth", post(images::auth))
        // containers
        .route("/build", post(build::build))
        .route("/build/prune", post(prune::build_cache))
        .route("/build/cancel", post(build::cancel))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(prune::networks))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove).merge(since(
                1,
                42,
                "PUT",
                "/volumes/{name:.*}",
                put(unsupported::cluster_volume_update),
            )),
        )
        // BuildKit's endpoints: their upgrade checks as moby makes them, then a refusal.
        .route("/session", post(unsupported::session))
        .route("/grpc", post(unsupported::grpc))
        .route("/containers/create", post(containers::create))
        .route("/containers/json", get(containers::list))
        .route(
            "/containers/prune",
            since(1, 25, "POST", "/containers/prune", post(prune::containers)),
        )
        .route(
            "/images/prune",
            since(1, 25, "POST", "/images/prune", post(prune::images)),
        )
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/top", get(containers::top))
        .route("/containers/{id}/changes", get(containers::changes))
        .route("/containers/{id}/update", post(containers::update))
        .route("/containers/{id}/stats", get(containers::stats))
        .route("/commit", post(containers::commit))
        .route("/containers/{id}/export", get(containers::export))
        .route(
            "/containers/{id}/archive",
            get(archive::get).head(archive::head).put(archive::put),
        )
        .route("/containers/{id}/wait", post(containers::wait))
        .route("/containers/{id}/attach", post(containers::attach))
        .route("/containers/{id}/attach/ws", get(containers::attach_ws))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/resize", post(containers::resize))
        .route("/containers/{id}", delete(containers::remove))
        .route(
            "/containers/{parent}/{alias}",
            delete(containers::remove_link),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        // images
        .route("/images/json", get(images::list))
        .route("/images/load", post(images::load))
        .route("/images/create", post(images::create))
        .route("/images/get", get(images::save_many))
        .route("/images/search", get(images::search))
        .route(
            "/distribution/{*rest}",
            since(
                1,
                30,
                "GET",
                "/distribution/{name:.*}/json",
                get(images::distribution),
            ),
        )
        .route(
            "/images/{*rest}",
            get(images::get_by_name)
                .post(images::post_by_name)
                .delete(images::remove),
        )
        // swarm: this daemon is never part of a swarm
        .route("/swarm", get(unsupported::no_swarm_manager))
        .route("/swarm/init", post(unsupported::swarm_unsupported))
        .route("/swarm/join", post(unsupported::swarm_unsupported))
        .route("/swarm/leave", post(unsupported::not_in_swarm))
        .route("/swarm/update", post(unsupported::no_swarm_manager))
        .route("/swarm/unlock", post(unsupported::no_swarm_manager))
        .route("/swarm/unlockkey", get(unsupported::no_swarm_manager))
        .route("/services", get(unsupported::no_swarm_manager))
        .route("/services/create", post(unsupported::no_swarm_manager))
        .route(
            "/services/{id}",
            get(unsupported::no_swarm_manager).delete(unsupported::no_swarm_manager),
        )
        .route("/services/{id}/update", post(unsupported::no_swarm_manager))
        .route("/services/{id}/logs", get(unsupported::no_swarm_manager))
        .route("/nodes", get(unsupported::no_swarm_manager))
        .route(
            "/nodes/{id}",
            get(unsupported::no_swarm_manager).delete(unsupported::no_swarm_manager),
        )
        .route("/nodes/{id}/update", post(unsupported::no_swarm_manager))
        .route("/tasks", get(unsupported::no_swarm_manager))
        .route("/tasks/{id}", get(unsupported::no_swarm_manager))
        .route("/tasks/{id}/logs", get(unsupported::no_swarm_manager))
        .route(
            "/secrets",
            since(1, 25, "GET", "/secrets", get(unsupported::no_swarm_manager)),
        )
        .route(
            "/secrets/create",
            since(
                1,
                25,
                "POST",
                "/secrets/create",
                post(unsupported::no_swarm_manager),
            ),
        )
        .route(
            "/secrets/{id}",
            since(
                1,
                25,
                "GET",
                "/secrets/{id}",
                get(unsupported::no_swarm_manager),
            )
            .merge(since(
                1,
                25,
                "DELETE",
                "/secrets/{id}",
                delete(unsupported::no_swarm_manager),
            )),
        )
        .route(
            "/secrets/{id}/update",
            since(
                1,
                25,
                "POST",
                "/secrets/{id}/update",
                post(unsupported::no_swarm_manager),
            ),
        )
        .route(
            "/configs",
            since(1, 30, "GET", "/configs", get(unsupported::no_swarm_manager)),
        )
        .route(
            "/configs/create",
            since(
                1,
                30,
                "POST",
                "/configs/create",
                post(unsupported::no_swarm_manager),
            ),
        )
        .route(
            "/configs/{id}",
            since(
                1,
                30,
                "GET",
                "/configs/{id}",
                get(unsupported::no_swarm_manager),
            )
            .merge(since(
                1,
                30,
                "DELETE",
                "/configs/{id}",
                delete(unsupported::no_swarm_manager),
            )),
        )
        .route(
            "/configs/{id}/update",
            since(
                1,
                30,
                "POST",
                "/configs/{id}/update",
                post(unsupported::no_swarm_manager),
            ),
        )
        // plugins: none are installed and none can be
        .route("/plugins", get(unsupported::plugins_list))
        .route("/plugins/privileges", get(unsupported::plugins_unsupported))
        .route("/plugins/pull", post(unsupported::plugins_unsupported))
        .route("/plugins/create", post(unsupported::plugins_unsupported))
        .route("/plugins/{*rest}", any(unsupported::plugin_by_name))
        // checkpoints: experimental in moby, and experimental mode is off
        .route(
            "/containers/{name}/checkpoints",
            get(unsupported::experimental_disabled).post(unsupported::experimental_disabled),
        )
        .route(
            "/containers/{name}/checkpoints/{checkpoint}",
            delete(unsupported::experimental_disabled),
        )
        .route_layer(from_fn_with_state(flags, version_middleware))
        .fallback(page_not_found)
        .method_not_allowed_fallback(page_not_found)
        .with_state(state)
}
