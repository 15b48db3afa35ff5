//! Edge routing in the customer's account: the deploy steps, the plan, the discovery and the
//! verification probe.
//!
//! Every step converges: it reads what exists, compares it with what routing needs, and changes
//! only what differs, reporting `created`, `exists` or `updated`. Run in [`step::Mode::Plan`] the
//! same code stops before its first write and says what it would do, so a plan can never
//! disagree with a deploy.

pub mod api_key;
pub mod associate;
pub mod cache;
pub mod calls;
pub mod context;
pub mod deploy;
pub mod discover;
pub mod distribution;
pub mod function;
pub mod guardrail;
pub mod lambda_edge;
pub mod origin;
pub mod plan;
pub mod propagation;
pub mod step;
pub mod verify;
