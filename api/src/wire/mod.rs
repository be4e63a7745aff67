//! Wire types: request bodies as moby's Go structs spell them. `generated` is written from
//! moby's spec by `openapi/wiregen` (never edited by hand), `patch` holds the Go types the
//! spec cannot express, and `go_json` decodes a body with Go's `encoding/json` rules.

#[rustfmt::skip]
pub mod generated;
pub mod go_json;
mod into_engine;
pub mod patch;

pub use generated::*;
