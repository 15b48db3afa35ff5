//! The operator CLI's commands; `src/bin/cdn-onboard.rs` parses the arguments and calls these.

pub mod redrive;
pub mod send;
pub mod status;
pub mod templates;
