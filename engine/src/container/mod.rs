//! Containers: create, start, stop/kill, wait, remove, attach, logs, and the exit monitor.
//! State lives in memory (for list and lookups) and on disk (for restarts); processes live in
//! containerd.

mod archive;
pub mod exec;
mod filesystem;
pub mod health;
pub mod init_layer;
pub mod io;
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
mod service;
pub mod setup;
pub mod spec;
pub mod stats;

pub use filesystem::Change;
pub use listing::{Bindings, ListQuery};
pub use manage::{BlockDeviceLists, ResourceUpdate, Top};
pub use networking::EndpointRequest;
pub use service::{AttachHandle, ContainerService, CreateRequest, LogsRequest, WaitCondition};
