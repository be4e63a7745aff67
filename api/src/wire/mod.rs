//! Wire types: request bodies as moby's Go structs spell them. `generated` is written from
//! moby's spec by `openapi/wiregen` (never edited by hand), `patch` holds the Go types the
//! spec cannot express, and `go_json` decodes a body with Go's `encoding/json` rules.

#[rustfmt::skip]
pub mod generated;
pub mod go_json;
pub mod patch;

pub use generated::*;

impl From<EndpointSettings> for berth_engine::container::EndpointRequest {
    fn from(e: EndpointSettings) -> Self {
        let ipam = e.ipam_config.unwrap_or_default();
        Self {
            aliases: e.aliases.unwrap_or_default(),
            ipv4_address: ipam.ipv4_address.unwrap_or_default(),
            ipv6_address: ipam.ipv6_address.unwrap_or_default(),
            link_local_ips: ipam.link_local_ips.unwrap_or_default(),
            mac_address: e.mac_address.unwrap_or_default(),
            links: e.links.unwrap_or_default(),
            driver_opts: e.driver_opts.unwrap_or_default(),
        }
    }
}
