//! Wire types: faithful to moby's Go structs. Every key is emitted (Go has no "absent"),
//! `null` where Go would marshal a nil slice or pointer, and key names spelled as moby
//! spells them. utoipa derives the served OpenAPI schemas from these same types.

pub mod container;
pub mod events;
pub mod image;
pub mod inspect;
pub mod responses;
pub mod stats;
pub mod system;
