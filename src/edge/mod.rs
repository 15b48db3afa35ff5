//! What this service installs at the edge of a customer's distribution: the names of its
//! resources, the generated routing function and Lambda@Edge handler, and the handler's package.

pub mod code;
pub mod names;
pub mod package;
