//! The classic image builder (`POST /build`): Dockerfiles read with moby's grammar and run
//! step by step on containerd.

pub mod dockerfile;
