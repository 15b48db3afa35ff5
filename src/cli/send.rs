//! `cdn-onboard send`: puts one command on the queue, from a file or built from flags.

use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::clock::epoch_millis;
use crate::command::{self, Parsed};

/// The fields of a command given as flags.
#[derive(Clone, Debug, Default)]
pub struct CommandFlags {
    pub command_type: String,
    pub command_id: Option<String>,
    /// The tenant; absent only for a rescan of every site (`--scope all`).
    pub site_id: Option<String>,
    pub ims_org_id: Option<String>,
    pub account_id: Option<String>,
    pub distribution_id: Option<String>,
    pub requested_by: Option<String>,
    /// The routing params (`deploy-step`, `plan-deploy`).
    pub routing: RoutingFlags,
    /// `rescan`: `all` or `site`, and whether drift is healed.
    pub scope: Option<String>,
    pub report_only: bool,
}

/// The params of the routing commands, given as flags.
#[derive(Clone, Debug, Default)]
pub struct RoutingFlags {
    pub step: Option<String>,
    pub behavior: Option<String>,
    pub site_base_url: Option<String>,
    pub targeted_paths: Vec<String>,
    pub allow_domain_mismatch: bool,
}

/// A command envelope built from flags; a command id is generated when none is given.
pub fn build(flags: &CommandFlags) -> Value {
    let command_id = flags.command_id.clone().unwrap_or_else(|| {
        format!(
            "cli-{}-{:04x}",
            epoch_millis(SystemTime::now()),
            fastrand::u16(..)
        )
    });
    let mut params = Map::new();
    if let Some(distribution) = &flags.distribution_id {
        params.insert("distributionId".into(), json!(distribution));
    }
    let routing = &flags.routing;
    if let Some(step) = &routing.step {
        params.insert("step".into(), json!(step));
    }
    if let Some(behavior) = &routing.behavior {
        params.insert("behavior".into(), json!(behavior));
    }
    if let Some(url) = &routing.site_base_url {
        params.insert("siteBaseUrl".into(), json!(url));
    }
    if !routing.targeted_paths.is_empty() {
        params.insert("targetedPaths".into(), json!(routing.targeted_paths));
    }
    if routing.allow_domain_mismatch {
        params.insert("allowDomainMismatch".into(), json!(true));
    }
    if let Some(scope) = &flags.scope {
        params.insert("scope".into(), json!(scope));
        if flags.report_only {
            params.insert("heal".into(), json!(false));
        }
    }
    let mut envelope = json!({
        "schemaVersion": command::SCHEMA_VERSION,
        "commandId": command_id,
        "type": flags.command_type,
        "params": params,
    });
    for (field, value) in [
        ("siteId", &flags.site_id),
        ("imsOrgId", &flags.ims_org_id),
        ("accountId", &flags.account_id),
    ] {
        if let Some(value) = value {
            envelope[field] = json!(value);
        }
    }
    if let Some(who) = &flags.requested_by {
        envelope["requestedBy"] = json!(who);
    }
    envelope
}

/// Checks a body the way the consumer will, so a mistake shows before it is sent.
pub fn check(body: &str) -> Result<String, String> {
    match command::parse(body) {
        Parsed::Valid(command) => Ok(command.command_id.to_string()),
        Parsed::Refused { failure, .. } => Err(failure.message),
        Parsed::Unreadable { reason, .. } => Err(reason),
    }
}

/// Sends `body` and returns the SQS message id.
pub async fn send(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    body: &str,
) -> Result<String, crate::queue::QueueError> {
    let output = client
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| crate::queue::QueueError::from_sdk("SendMessage", &e))?;
    Ok(output.message_id().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_a_valid_command() {
        let flags = CommandFlags {
            command_type: "enable-log-delivery".into(),
            command_id: Some("c-1".into()),
            site_id: Some("site-1".into()),
            ims_org_id: Some("ABC123DEF456@AdobeOrg".into()),
            account_id: Some("111122223333".into()),
            distribution_id: Some("E2EXAMPLE1ABCD".into()),
            requested_by: Some("ops@example.com".into()),
            routing: RoutingFlags::default(),
            scope: None,
            report_only: false,
        };
        assert_eq!(check(&build(&flags).to_string()), Ok("c-1".to_owned()));
        let generated = build(&CommandFlags {
            command_id: None,
            ..flags
        });
        assert!(generated["commandId"].as_str().unwrap().starts_with("cli-"));
    }

    #[test]
    fn flags_build_routing_commands() {
        let flags = CommandFlags {
            command_type: "deploy-step".into(),
            command_id: Some("d-1".into()),
            site_id: Some("site-1".into()),
            ims_org_id: Some("ABC123DEF456@AdobeOrg".into()),
            account_id: Some("111122223333".into()),
            distribution_id: Some("E2EXAMPLE1ABCD".into()),
            requested_by: None,
            routing: RoutingFlags {
                step: Some("all".into()),
                behavior: Some("/blog/*".into()),
                site_base_url: Some("https://www.example.com".into()),
                targeted_paths: vec!["/".into(), "/pricing".into()],
                allow_domain_mismatch: true,
            },
            scope: None,
            report_only: false,
        };
        let body = build(&flags);
        assert_eq!(check(&body.to_string()), Ok("d-1".to_owned()));
        assert_eq!(body["params"]["targetedPaths"], json!(["/", "/pricing"]));
        let mut plan = flags.clone();
        plan.command_type = "plan-deploy".into();
        plan.routing.step = None;
        assert!(check(&build(&plan).to_string()).is_ok());
        let mut discover = flags.clone();
        discover.command_type = "discover".into();
        discover.routing = RoutingFlags::default();
        assert!(check(&build(&discover).to_string()).is_ok());
        let scheduled = CommandFlags {
            command_type: "rescan".into(),
            site_id: None,
            ims_org_id: None,
            account_id: None,
            distribution_id: None,
            routing: RoutingFlags::default(),
            scope: Some("all".into()),
            report_only: true,
            ..flags
        };
        let body = build(&scheduled);
        assert!(check(&body.to_string()).is_ok(), "{body}");
        assert_eq!(body["params"], json!({"scope": "all", "heal": false}));
    }

    #[test]
    fn check_explains_a_bad_command() {
        let error = check(r#"{"commandId":"c","siteId":"s","schemaVersion":1,"type":"enable-log-delivery","imsOrgId":"A@AdobeOrg","accountId":"1","params":{}}"#).unwrap_err();
        assert!(error.contains("accountId"), "{error}");
    }
}
