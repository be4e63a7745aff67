//! Per-version response and request shims. Each quirk is one named function, tested on both
//! sides of its version boundary.

pub mod container;
pub mod disk_usage;
pub mod events;
pub mod image;
pub mod info;
pub mod network;
