//! Contract-shaped command bodies for the demo customer, as producers and the schedule send
//! them.

use serde_json::{json, Value};

use super::stack::Stack;

/// A command of `site`, acting for the demo tenant and account.
pub fn tenant_command(
    stack: &Stack,
    kind: &str,
    site: &str,
    command_id: &str,
    params: Value,
) -> String {
    json!({
        "schemaVersion": 1, "commandId": command_id, "type": kind,
        "siteId": site, "imsOrgId": stack.var("DEMO_IMS_ORG_ID"),
        "accountId": stack.var("DEMO_ACCOUNT_ID"),
        "params": params,
    })
    .to_string()
}

pub fn enable(stack: &Stack, site: &str, command_id: &str, distribution: &str) -> String {
    tenant_command(
        stack,
        "enable-log-delivery",
        site,
        command_id,
        json!({"distributionId": distribution}),
    )
}

pub fn disable(stack: &Stack, site: &str, command_id: &str, distribution: &str) -> String {
    tenant_command(
        stack,
        "disable-log-delivery",
        site,
        command_id,
        json!({"distributionId": distribution}),
    )
}

/// A rescan of `site`'s targets.
pub fn site_rescan(stack: &Stack, site: &str, command_id: &str, heal: bool) -> String {
    tenant_command(
        stack,
        "rescan",
        site,
        command_id,
        json!({"scope": "site", "heal": heal}),
    )
}

/// The scheduled rescan of every target, as the schedule sends it.
pub fn scheduled(command_id: &str) -> String {
    json!({"schemaVersion": 1, "commandId": command_id, "type": "rescan", "params": {"scope": "all"}})
        .to_string()
}

/// The scheduled rescan, reporting only.
pub fn scheduled_report_only(command_id: &str) -> String {
    json!({"schemaVersion": 1, "commandId": command_id, "type": "rescan", "params": {"scope": "all", "heal": false}})
        .to_string()
}

/// A `deploy-step` of `step` on `distribution` for the demo site `https://www.example.com`, under
/// `site`.
pub fn deploy_step(
    stack: &Stack,
    site: &str,
    command_id: &str,
    distribution: &str,
    step: &str,
) -> Value {
    serde_json::from_str(&tenant_command(
        stack,
        "deploy-step",
        site,
        command_id,
        json!({
            "distributionId": distribution,
            "step": step,
            "siteBaseUrl": "https://www.example.com",
        }),
    ))
    .expect("a command body is JSON")
}

/// [`deploy_step`] under the demo site.
pub fn deploy_body(stack: &Stack, command_id: &str, distribution: &str, step: &str) -> Value {
    deploy_step(
        stack,
        stack.var("DEMO_SITE_ID"),
        command_id,
        distribution,
        step,
    )
}
