//! Images: references, archives (load/save), and the image store on containerd.

pub mod archive;
pub mod changes;
pub mod document;
pub mod listing;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
