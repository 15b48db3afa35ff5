//! cdn-onboard executes CDN onboarding commands from an SQS queue inside customers' AWS accounts,
//! through their cross-account connector role, and records each outcome in DynamoDB.
//!
//! A message's way through the code:
//!
//! ```text
//! consumer   SQS batch → groups by distribution → one message at a time per group
//! command    body → Valid | Refused (failed record) | Unreadable (INVALID record)
//! records    command record `accepted` → idempotency → claim (`running`)
//! lease      one mutating command per distribution
//! connector  AssumeRole (external id = IMS org id) → customer-scoped clients
//! execute    log_delivery::enable / disable, routing::deploy / plan / discover,
//!            rescan::fanout / check → targets
//! consumer   `succeeded` | `failed` | `waiting` + continuation | retry → partial batch response
//! ```
//!
//! | module | what it owns |
//! |---|---|
//! | [`command`], [`ids`], [`json_fields`] | the envelope, each type's params, the identifiers; strict JSON reading |
//! | [`consumer`], [`execute`] | one batch in, one partial batch response out; running one command |
//! | [`records`], [`lease`], [`targets`], [`attributes`] | every DynamoDB read and conditional write |
//! | [`connector`], [`aws_calls`] | AssumeRole and its session cache; counting AWS requests |
//! | [`log_delivery`], [`delivery_names`] | enable and disable; the names and fixed configuration |
//! | [`routing`], [`routing_params`], [`site`], [`steps`] | the deploy steps, plan and discovery; their params; the site; the step list |
//! | [`edge`] | the routing resources' names, the generated edge code, the Lambda@Edge package |
//! | [`rescan`], [`rescan_params`], [`log_delivery_check`] | the fan-out over the target indexes, each target's check and heal |
//! | [`error`], [`retry`] | the contract's codes and the one classification of AWS errors; backoff |
//! | [`queue`], [`worker`] | sending back and spacing retries; the long-polling worker |
//! | [`permissions`], [`customer_template`], [`bootstrap`] | what the connector role grants, its templates, the onboarding link |
//! | [`config`], [`app`], [`telemetry`], [`clock`] | configuration, wiring, logging, times |
//! | [`cli`] | the operator CLI's commands |

pub mod app;
pub mod attributes;
pub mod aws_calls;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod command;
pub mod config;
pub mod connector;
pub mod consumer;
pub mod customer_template;
pub mod delivery_names;
pub mod edge;
pub mod error;
pub mod execute;
pub mod ids;
pub mod json_fields;
pub mod lease;
pub mod log_delivery;
pub mod log_delivery_check;
pub mod permissions;
pub mod queue;
pub mod records;
pub mod rescan;
pub mod rescan_params;
pub mod retry;
pub mod routing;
pub mod routing_params;
pub mod site;
pub mod steps;
pub mod targets;
pub mod telemetry;
pub mod worker;
