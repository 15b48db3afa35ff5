//! The command envelope and each executed type's params: parsing and validation of one SQS body.
//!
//! Parsing never fails outright; it sorts a body into one of three cases (see [`Parsed`]) so that
//! the batch consumer can always write a record for it. Every rule of the contract's section 1 is
//! checked here, and each refusal names the field it concerns.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, Failure};
use crate::ids::{AccountId, CommandId, DistributionId, ImsOrgId, SiteId};
use crate::json_fields::RawFields;
use crate::rescan_params::{self, RescanScope};
use crate::routing_params::{self, RoutingParams, StepChoice};

/// The only envelope version this build understands.
pub const SCHEMA_VERSION: u64 = 1;

/// Every type the contract names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandType {
    EnableLogDelivery,
    DisableLogDelivery,
    Rescan,
    DeployStep,
    PlanDeploy,
    Discover,
}

impl CommandType {
    pub const ALL: [CommandType; 6] = [
        Self::EnableLogDelivery,
        Self::DisableLogDelivery,
        Self::Rescan,
        Self::DeployStep,
        Self::PlanDeploy,
        Self::Discover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnableLogDelivery => "enable-log-delivery",
            Self::DisableLogDelivery => "disable-log-delivery",
            Self::Rescan => "rescan",
            Self::DeployStep => "deploy-step",
            Self::PlanDeploy => "plan-deploy",
            Self::Discover => "discover",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// The one CDN provider the service knows.
pub const PROVIDER_CLOUDFRONT: &str = "cloudfront";

/// What a command asks for, with its validated params.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    EnableLogDelivery {
        distribution_id: DistributionId,
    },
    DisableLogDelivery {
        distribution_id: DistributionId,
    },
    DeployStep {
        step: StepChoice,
        routing: RoutingParams,
    },
    PlanDeploy {
        routing: RoutingParams,
    },
    Discover {
        distribution_id: Option<DistributionId>,
    },
    Rescan {
        scope: RescanScope,
        heal: bool,
    },
}

impl Action {
    pub fn command_type(&self) -> CommandType {
        match self {
            Self::EnableLogDelivery { .. } => CommandType::EnableLogDelivery,
            Self::DisableLogDelivery { .. } => CommandType::DisableLogDelivery,
            Self::DeployStep { .. } => CommandType::DeployStep,
            Self::PlanDeploy { .. } => CommandType::PlanDeploy,
            Self::Discover { .. } => CommandType::Discover,
            Self::Rescan { .. } => CommandType::Rescan,
        }
    }

    /// The distribution the command is about, when it names one.
    pub fn distribution_id(&self) -> Option<&DistributionId> {
        match self {
            Self::EnableLogDelivery { distribution_id }
            | Self::DisableLogDelivery { distribution_id } => Some(distribution_id),
            Self::DeployStep { routing, .. } | Self::PlanDeploy { routing } => {
                Some(&routing.distribution_id)
            }
            Self::Discover { distribution_id } => distribution_id.as_ref(),
            Self::Rescan {
                scope:
                    RescanScope::Target {
                        distribution_id, ..
                    },
                ..
            } => Some(distribution_id),
            Self::Rescan { .. } => None,
        }
    }

    /// Whether the command may change the customer's account, and so must hold the
    /// distribution's lease while it runs.
    pub fn is_mutating(&self) -> bool {
        match self {
            Self::EnableLogDelivery { .. } | Self::DisableLogDelivery { .. } => true,
            Self::DeployStep { step, .. } => step.steps().iter().any(|s| s.is_mutating()),
            Self::PlanDeploy { .. } | Self::Discover { .. } => false,
            // A target check that may heal changes the target; a fan-out only sends messages.
            Self::Rescan { scope, heal } => *heal && matches!(scope, RescanScope::Target { .. }),
        }
    }
}

/// Who a command acts for: the site, the tenant, and the customer account it acts in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    pub site_id: SiteId,
    pub ims_org_id: ImsOrgId,
    pub account_id: AccountId,
}

/// A command that passed every rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    pub command_id: CommandId,
    /// `None` only for a site-less `rescan` (scope `all`), which acts for no one tenant.
    pub tenant: Option<Tenant>,
    pub requested_by: Option<String>,
    pub action: Action,
    pub payload_hash: String,
}

impl Command {
    /// The command's tenant. Every command but a site-less rescan has one (validation makes
    /// sure), and only code for those commands asks.
    pub fn tenant(&self) -> &Tenant {
        self.tenant
            .as_ref()
            .expect("every command but a site-less rescan names its tenant")
    }

    pub fn identity(&self) -> Identity {
        Identity {
            command_id: self.command_id.clone(),
            site_id: self.tenant.as_ref().map(|t| t.site_id.clone()),
            type_name: Some(self.action.command_type().as_str().to_owned()),
            account_id: self.tenant.as_ref().map(|t| t.account_id.clone()),
            distribution_id: self.action.distribution_id().cloned(),
            payload_hash: self.payload_hash.clone(),
        }
    }

    /// The distribution a command needs to itself while it runs: the one it may change.
    pub fn leased_target(&self) -> Option<(&AccountId, &DistributionId)> {
        let distribution = self
            .action
            .distribution_id()
            .filter(|_| self.action.is_mutating())?;
        Some((&self.tenant.as_ref()?.account_id, distribution))
    }
}

/// What could be read of a command: enough to key its record, plus whatever fields were valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub command_id: CommandId,
    /// `None` only for a site-less `rescan`, recorded under `SYSTEM`.
    pub site_id: Option<SiteId>,
    /// The type, when it is one the contract names.
    pub type_name: Option<String>,
    pub account_id: Option<AccountId>,
    pub distribution_id: Option<DistributionId>,
    pub payload_hash: String,
}

/// How a body sorts out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Every rule holds.
    Valid(Command),
    /// The body names a command and its site but breaks a rule: it gets a normal command record
    /// with status `failed` and `INVALID_COMMAND`.
    Refused {
        identity: Identity,
        failure: Failure,
    },
    /// Not JSON, or no usable `commandId`/`siteId`: recorded under `INVALID`.
    Unreadable {
        command_id: Option<String>,
        reason: String,
    },
}

/// The longest free-text `requestedBy` kept for audit lines.
const MAX_REQUESTED_BY_CHARS: usize = 256;

const ENVELOPE_FIELDS: [&str; 8] = [
    "schemaVersion",
    "commandId",
    "type",
    "siteId",
    "imsOrgId",
    "accountId",
    "requestedBy",
    "params",
];

/// Sorts one SQS message body.
pub fn parse(body: &str) -> Parsed {
    let fields = match RawFields::parse(body) {
        Ok(fields) => fields,
        Err(error) => {
            return Parsed::Unreadable {
                command_id: None,
                reason: not_an_object(&error),
            }
        }
    };
    let decoded = fields.decode("", &["params"]);
    let payload_hash = match &decoded {
        Ok(envelope) => payload_hash(&Value::Object(envelope.clone())),
        // A body that cannot be decoded whole is hashed as received.
        Err(_) => hex::encode(Sha256::digest(body.as_bytes())),
    };

    let identity = match read_identity(&fields, payload_hash) {
        Ok(identity) => identity,
        Err(Unreadable { command_id, reason }) => return Parsed::Unreadable { command_id, reason },
    };
    let checked = decoded
        .map_err(|error| error.to_string())
        .and_then(|envelope| validate(&envelope, &identity));
    if let Err(reason) =
        rescan_params::reserved_ids(identity.command_id.as_str(), checked.as_ref().ok())
    {
        // Refused before its id is reserved: no producer can take an id the schedule or a
        // rescan's fan-out will use.
        return Parsed::Unreadable {
            command_id: Some(identity.command_id.to_string()),
            reason,
        };
    }
    match checked {
        Ok(command) => Parsed::Valid(command),
        Err(message) => Parsed::Refused {
            identity,
            failure: Failure::new(ErrorCode::InvalidCommand, message),
        },
    }
}

/// Reads what keys the record: `commandId`, and `siteId` (absent only for `rescan` scope `all`).
fn read_identity(fields: &RawFields, payload_hash: String) -> Result<Identity, Unreadable> {
    let command_id = match fields.value("commandId") {
        Some(Value::String(raw)) => {
            CommandId::parse(&raw).map_err(|rule| unreadable(None, format!("commandId {rule}")))?
        }
        _ => {
            return Err(unreadable(
                None,
                "commandId is required, once, and must be a string".to_owned(),
            ))
        }
    };
    let type_value = fields.value("type");
    // Only a type the contract names is copied to the record; anything else stays in the message.
    let type_name = type_value
        .as_ref()
        .and_then(Value::as_str)
        .and_then(CommandType::from_name)
        .map(|t| t.as_str().to_owned());
    let params = fields.value("params");
    let site_id = match fields.value("siteId") {
        Some(Value::String(raw)) => match SiteId::parse(&raw) {
            Ok(site) => Some(site),
            Err(rule) => return Err(unreadable(Some(&command_id), format!("siteId {rule}"))),
        },
        None | Some(Value::Null) if is_site_less_rescan(type_value.as_ref(), params.as_ref()) => {
            None
        }
        _ => {
            return Err(unreadable(
                Some(&command_id),
                "siteId is required, once, and must be a string".to_owned(),
            ))
        }
    };
    let account_id = fields
        .value("accountId")
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|raw| AccountId::parse(raw).ok());
    let distribution_id = params
        .as_ref()
        .and_then(|p| p.get("distributionId"))
        .and_then(Value::as_str)
        .and_then(|raw| DistributionId::parse(raw).ok());
    Ok(Identity {
        command_id,
        site_id,
        type_name,
        account_id,
        distribution_id,
        payload_hash,
    })
}

/// Why a body could not be keyed, and the command id if one was readable.
struct Unreadable {
    command_id: Option<String>,
    reason: String,
}

fn unreadable(command_id: Option<&CommandId>, reason: String) -> Unreadable {
    Unreadable {
        command_id: command_id.map(|id| id.to_string()),
        reason,
    }
}

fn is_site_less_rescan(type_value: Option<&Value>, params: Option<&Value>) -> bool {
    type_value.and_then(Value::as_str) == Some(CommandType::Rescan.as_str())
        && params.and_then(|p| p.get("scope")).and_then(Value::as_str) == Some("all")
}

/// Applies every field rule; the error names the field that broke one.
fn validate(envelope: &Map<String, Value>, identity: &Identity) -> Result<Command, String> {
    reject_unknown("", envelope, &ENVELOPE_FIELDS)?;

    match envelope.get("schemaVersion") {
        Some(Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION) => {}
        Some(_) => return Err(format!("schemaVersion must be the number {SCHEMA_VERSION}")),
        None => return Err("schemaVersion is required".to_owned()),
    }

    let type_name = required_str(envelope, "type")?;
    let Some(command_type) = CommandType::from_name(type_name) else {
        let known: Vec<_> = CommandType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(format!(
            "type '{}' is unknown; expected one of {}",
            printable(type_name),
            known.join(", ")
        ));
    };

    let empty = Map::new();
    let params = match envelope.get("params") {
        Some(Value::Object(params)) => params,
        None => &empty,
        Some(_) => return Err("params must be a JSON object".to_owned()),
    };
    let site_less = command_type == CommandType::Rescan
        && params.get("scope").and_then(Value::as_str) == Some("all");
    let tenant = if site_less {
        if let Some(field) = ["siteId", "imsOrgId", "accountId"]
            .into_iter()
            .find(|f| envelope.get(*f).is_some_and(|v| !v.is_null()))
        {
            return Err(format!(
                "{field} must be absent from a rescan with params.scope 'all', which covers every site"
            ));
        }
        None
    } else {
        Some(tenant(envelope, identity)?)
    };
    let requested_by = match envelope.get("requestedBy") {
        None | Some(Value::Null) => None,
        Some(Value::String(who))
            if who.chars().count() <= MAX_REQUESTED_BY_CHARS
                && !who.chars().any(|c| c.is_control() || is_invisible(c)) =>
        {
            Some(who.clone())
        }
        Some(_) => {
            return Err(format!(
            "requestedBy must be a string of at most {MAX_REQUESTED_BY_CHARS} printable characters"
        ))
        }
    };

    let action = action(command_type, params)?;
    Ok(Command {
        command_id: identity.command_id.clone(),
        tenant,
        requested_by,
        action,
        payload_hash: identity.payload_hash.clone(),
    })
}

fn tenant(envelope: &Map<String, Value>, identity: &Identity) -> Result<Tenant, String> {
    let site_id = identity
        .site_id
        .clone()
        .ok_or_else(|| "siteId is required".to_owned())?;
    let ims_org_id = ImsOrgId::parse(required_str(envelope, "imsOrgId")?)
        .map_err(|rule| format!("imsOrgId {rule}"))?;
    let account_id = match envelope.get("accountId") {
        Some(Value::String(raw)) => AccountId::parse(raw).map_err(|rule| format!("accountId {rule}"))?,
        Some(Value::Number(_)) => {
            return Err("accountId must be a JSON string of 12 digits, not a number (a number loses leading zeros)".to_owned())
        }
        Some(_) => return Err("accountId must be a JSON string of 12 digits".to_owned()),
        None => return Err("accountId is required".to_owned()),
    };
    Ok(Tenant {
        site_id,
        ims_org_id,
        account_id,
    })
}

fn action(command_type: CommandType, params: &Map<String, Value>) -> Result<Action, String> {
    match command_type {
        CommandType::EnableLogDelivery => {
            reject_unknown("params.", params, &["distributionId", "provider"])?;
            match params.get("provider") {
                None => {}
                Some(Value::String(p)) if p == PROVIDER_CLOUDFRONT => {}
                Some(_) => {
                    return Err(format!(
                    "params.provider must be '{PROVIDER_CLOUDFRONT}', the only provider supported"
                ))
                }
            }
            Ok(Action::EnableLogDelivery {
                distribution_id: distribution_id(params)?,
            })
        }
        CommandType::DisableLogDelivery => {
            reject_unknown("params.", params, &["distributionId"])?;
            Ok(Action::DisableLogDelivery {
                distribution_id: distribution_id(params)?,
            })
        }
        CommandType::DeployStep => {
            let (step, routing) = routing_params::deploy_step(params)?;
            Ok(Action::DeployStep { step, routing })
        }
        CommandType::PlanDeploy => Ok(Action::PlanDeploy {
            routing: routing_params::plan_deploy(params)?,
        }),
        CommandType::Discover => Ok(Action::Discover {
            distribution_id: routing_params::discover(params)?,
        }),
        CommandType::Rescan => {
            let (scope, heal) = rescan_params::rescan(params)?;
            Ok(Action::Rescan { scope, heal })
        }
    }
}

pub(crate) fn distribution_id(params: &Map<String, Value>) -> Result<DistributionId, String> {
    let raw = params
        .get("distributionId")
        .ok_or_else(|| "params.distributionId is required".to_owned())?
        .as_str()
        .ok_or_else(|| "params.distributionId must be a string".to_owned())?;
    DistributionId::parse(raw).map_err(|rule| format!("params.distributionId {rule}"))
}

fn required_str<'a>(object: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("{field} must be a string")),
        None => Err(format!("{field} is required")),
    }
}

/// Refuses fields the contract does not define, so a typo never silently does nothing.
pub(crate) fn reject_unknown(
    prefix: &str,
    object: &Map<String, Value>,
    allowed: &[&str],
) -> Result<(), String> {
    let unknown: BTreeSet<_> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("{prefix}{}", printable(k)))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "unknown field{} {}; allowed: {}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown.into_iter().collect::<Vec<_>>().join(", "),
            allowed
                .iter()
                .map(|a| format!("{prefix}{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// Characters that hide or reorder text: bidirectional controls, zero-width characters, line and
/// paragraph separators, the byte order mark.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
}

/// A producer's value echoed in a message: printable and short.
pub fn printable(value: &str) -> String {
    let mut shown: String = value
        .chars()
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .take(64)
        .collect();
    if value.chars().count() > 64 {
        shown.push('…');
    }
    shown
}

/// Why a body is not a JSON object, in JSON's own terms, without echoing the body.
fn not_an_object(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let position = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Data => "the body must be a JSON object".to_owned(),
        Category::Eof => format!("the body is not valid JSON (it ends too early at {position})"),
        Category::Syntax | Category::Io => {
            format!("the body is not valid JSON (syntax error at {position})")
        }
    }
}

/// Hex SHA-256 of the command as received, over its canonical JSON (object keys sorted, no
/// whitespace), so that formatting or key order never makes a retried send look different.
pub fn payload_hash(command: &Value) -> String {
    let canonical = sorted(command).to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The same value with every object's keys in sorted order (a dependency turns on serde_json's
/// `preserve_order`, so maps keep insertion order).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&fields[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The type named in a body, if any, for grouping and logs before full validation.
pub fn peek_target(body: &str) -> Option<(String, String)> {
    let value: Value = serde_json::from_str(body).ok()?;
    let account = value.get("accountId")?.as_str()?.to_owned();
    let distribution = value
        .get("params")?
        .get("distributionId")?
        .as_str()?
        .to_owned();
    Some((account, distribution))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENABLE: &str = r#"{"schemaVersion":1,"commandId":"cmd-1","type":"enable-log-delivery",
        "siteId":"site-42","imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"111122223333",
        "params":{"distributionId":"E2EXAMPLE1ABCD"}}"#;

    fn with(field: &str, value: Value) -> String {
        let mut v: Value = serde_json::from_str(ENABLE).unwrap();
        v.as_object_mut().unwrap().insert(field.to_owned(), value);
        v.to_string()
    }

    fn refused_message(body: &str) -> String {
        match parse(body) {
            Parsed::Refused { failure, .. } => {
                assert_eq!(failure.code, ErrorCode::InvalidCommand);
                failure.message
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_contract_example() {
        let Parsed::Valid(command) = parse(ENABLE) else {
            panic!()
        };
        assert_eq!(command.command_id.as_str(), "cmd-1");
        assert_eq!(command.tenant().account_id.as_str(), "111122223333");
        assert_eq!(
            command.action,
            Action::EnableLogDelivery {
                distribution_id: DistributionId::parse("E2EXAMPLE1ABCD").unwrap()
            }
        );
    }

    #[test]
    fn account_id_as_a_number_is_refused_naming_the_field() {
        let message = refused_message(&with("accountId", serde_json::json!(111122223333u64)));
        assert!(
            message.starts_with("accountId must be a JSON string"),
            "{message}"
        );
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let cases = [
            ("schemaVersion", serde_json::json!(2), "schemaVersion"),
            ("schemaVersion", serde_json::json!("1"), "schemaVersion"),
            (
                "type",
                serde_json::json!("enable-logs"),
                "type 'enable-logs' is unknown",
            ),
            (
                "type",
                serde_json::json!("rescan"),
                "params.scope is required",
            ),
            ("imsOrgId", serde_json::json!("ABC"), "imsOrgId"),
            ("accountId", serde_json::json!("1234-5678-901"), "accountId"),
            ("requestedBy", serde_json::json!(7), "requestedBy"),
            (
                "params",
                serde_json::json!({"distributionId":"e2"}),
                "params.distributionId",
            ),
            (
                "params",
                serde_json::json!({}),
                "params.distributionId is required",
            ),
            (
                "params",
                serde_json::json!({"distributionId":"E2EXAMPLE1ABCD","provider":"akamai"}),
                "params.provider",
            ),
            (
                "params",
                serde_json::json!({"distributionId":"E2EXAMPLE1ABCD","distributionID":"x"}),
                "unknown field params.distributionID",
            ),
            ("extra", serde_json::json!(1), "unknown field extra"),
        ];
        for (field, value, expected) in cases {
            let message = refused_message(&with(field, value));
            assert!(message.contains(expected), "{field}: {message}");
        }
    }

    #[test]
    fn refusal_keeps_the_identity_for_the_record() {
        let Parsed::Refused { identity, .. } = parse(&with("schemaVersion", serde_json::json!(9)))
        else {
            panic!()
        };
        assert_eq!(identity.command_id.as_str(), "cmd-1");
        assert_eq!(identity.site_id.unwrap().as_str(), "site-42");
        assert_eq!(identity.distribution_id.unwrap().as_str(), "E2EXAMPLE1ABCD");
    }

    #[test]
    fn bodies_without_a_usable_identity_are_unreadable() {
        for body in [
            "{\"type\":",
            "[1,2]",
            "\"x\"",
            r#"{"commandId":"a b","siteId":"s"}"#,
            r#"{"commandId":"ok"}"#,
        ] {
            assert!(matches!(parse(body), Parsed::Unreadable { .. }), "{body}");
        }
        let Parsed::Unreadable { command_id, .. } = parse(r#"{"commandId":"ok","siteId":7}"#)
        else {
            panic!()
        };
        assert_eq!(command_id.as_deref(), Some("ok"));
    }

    #[test]
    fn site_less_rescan_is_keyed_without_a_site() {
        let body =
            r#"{"schemaVersion":1,"commandId":"r-1","type":"rescan","params":{"scope":"all"}}"#;
        let Parsed::Valid(command) = parse(body) else {
            panic!()
        };
        assert!(command.tenant.is_none());
        assert!(command.identity().site_id.is_none());
        let with_site = r#"{"schemaVersion":1,"commandId":"r-2","type":"rescan","siteId":"s","imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"111122223333","params":{"scope":"all"}}"#;
        let Parsed::Refused { failure, .. } = parse(with_site) else {
            panic!()
        };
        assert!(
            failure.message.starts_with("siteId must be absent"),
            "{}",
            failure.message
        );
        let site = r#"{"schemaVersion":1,"commandId":"r-3","type":"rescan","siteId":"s","imsOrgId":"ABC123DEF456@AdobeOrg","accountId":"111122223333","params":{"scope":"site","heal":false}}"#;
        assert!(matches!(parse(site), Parsed::Valid(_)));
    }

    #[test]
    fn payload_hash_ignores_formatting_and_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a": {"x":3, "y":2}, "b": 1 }"#).unwrap();
        assert_eq!(payload_hash(&a), payload_hash(&b));
        let c: Value = serde_json::from_str(r#"{"a":{"x":3,"y":2},"b":2}"#).unwrap();
        assert_ne!(payload_hash(&a), payload_hash(&c));
    }
}
