//! Containers: create, start, stop/kill, wait, remove, attach, logs, and the exit monitor.
//! State lives in memory (for list and lookups) and on disk (for restarts); processes live in
//! containerd.

mod archive;
mod create;
pub mod exec;
mod exit_monitor;
mod filesystem;
pub mod health;
pub mod init_layer;
pub mod io;
mod lifecycle;
mod limits;
mod listing;
pub mod logs;
mod manage;
pub mod model;
pub mod mounts;
pub mod names;
pub mod networking;
mod phases;
pub mod policy;
mod restore;
mod service;
pub mod setup;
pub mod spec;
mod spool;
pub mod stats;
mod store;
mod streams;

pub use create::CreateRequest;
pub use filesystem::Change;
pub use lifecycle::{WaitCondition, parse_signal};
pub use listing::{Bindings, ListQuery};
pub use manage::{BlockDeviceLists, ResourceUpdate, Top};
pub use networking::EndpointRequest;
pub use service::ContainerService;
pub use streams::{AttachHandle, LogsRequest};
