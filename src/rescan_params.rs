//! The params of `rescan`: which targets (every registered one, one site's, or one target as the
//! fan-out sends it) and whether drift is repaired or only reported.

use serde_json::{Map, Value};

use crate::command::{distribution_id, payload_hash, printable, reject_unknown, Action, Command};
use crate::ids::{AccountId, CommandId, DistributionId};
use crate::targets::{LOG_DELIVERY_KIND, ROUTING_KIND};

/// What a target record is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    LogDelivery,
    Routing,
}

impl TargetKind {
    /// The target record's sort key.
    pub fn sort_key(self) -> &'static str {
        match self {
            Self::LogDelivery => LOG_DELIVERY_KIND,
            Self::Routing => ROUTING_KIND,
        }
    }

    /// The word a `rescan` with scope `target` names it by.
    pub fn as_param(self) -> &'static str {
        match self {
            Self::LogDelivery => "log-delivery",
            Self::Routing => "routing",
        }
    }

    pub fn from_sort_key(key: &str) -> Option<Self> {
        [Self::LogDelivery, Self::Routing]
            .into_iter()
            .find(|k| k.sort_key() == key)
    }

    fn from_param(word: &str) -> Option<Self> {
        [Self::LogDelivery, Self::Routing]
            .into_iter()
            .find(|k| k.as_param() == word)
    }
}

/// Which targets a rescan checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RescanScope {
    /// Every registered target (what the schedule sends): fanned out one check per target.
    All,
    /// The envelope site's targets, fanned out the same way.
    Site,
    /// One target: what the fan-out sends. `rescan_id` is the rescan it belongs to, whose
    /// record counts the checks.
    Target {
        distribution_id: DistributionId,
        kind: TargetKind,
        rescan_id: Option<CommandId>,
        /// The scope of that rescan (its record lives under `SYSTEM` for `all`, under the site
        /// for `site`).
        rescan_scope: Option<ParentScope>,
    },
}

/// The scope of the rescan a target check belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParentScope {
    All,
    Site,
}

impl ParentScope {
    pub fn as_param(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Site => "site",
        }
    }
}

/// The prefix of the scheduled rescan's command ids (`rescan-<scheduled time>`): only a
/// site-less rescan may carry it.
pub const SCHEDULED_PREFIX: &str = "rescan-";
/// The prefix of the ids a rescan gives its target checks: only such a check may carry it.
pub const CHECK_PREFIX: &str = "rescan.";

/// The command id a rescan gives its check of one target:
/// `rescan.<12 hex>.<account>.<distribution>.<ld|rt>`, the hex from the rescan's id and the
/// salt its record drew when it started, so the same rescan gives the same target the same id
/// (a resent batch is a duplicate), no producer can foresee it, and it fits the 128
/// characters a command id may have.
pub fn check_id(
    rescan_id: &str,
    salt: &str,
    account_id: &AccountId,
    distribution_id: &DistributionId,
    kind: TargetKind,
) -> String {
    let digest = payload_hash(&Value::String(format!("{rescan_id}#{salt}")));
    format!(
        "{CHECK_PREFIX}{}{}",
        &digest[..12],
        check_id_tail(account_id, distribution_id, kind)
    )
}

fn check_id_tail(
    account_id: &AccountId,
    distribution_id: &DistributionId,
    kind: TargetKind,
) -> String {
    let kind = match kind {
        TargetKind::LogDelivery => "ld",
        TargetKind::Routing => "rt",
    };
    format!(".{account_id}.{distribution_id}.{kind}")
}

/// Refuses a command id in a namespace the service keeps for itself, unless the command is one
/// that namespace is for: `rescan-` for site-less rescans, `rescan.` for target checks that name
/// their rescan, with the target's account, distribution and kind at the end.
pub fn reserved_ids(command_id: &str, command: Option<&Command>) -> Result<(), String> {
    let action = command.map(|c| (&c.action, c.tenant.as_ref()));
    if command_id.starts_with(SCHEDULED_PREFIX) {
        let site_less = matches!(
            action,
            Some((
                Action::Rescan {
                    scope: RescanScope::All,
                    ..
                },
                None
            ))
        );
        if !site_less {
            return Err(format!(
                "commandId prefix '{SCHEDULED_PREFIX}' is reserved for the scheduled rescan (a \
                 valid rescan with params.scope 'all'); choose another id"
            ));
        }
    }
    if command_id.starts_with(CHECK_PREFIX) {
        let shaped = match action {
            Some((
                Action::Rescan {
                    scope:
                        RescanScope::Target {
                            distribution_id,
                            kind,
                            rescan_id: Some(_),
                            ..
                        },
                    ..
                },
                Some(tenant),
            )) => {
                let tail = check_id_tail(&tenant.account_id, distribution_id, *kind);
                command_id
                    .strip_prefix(CHECK_PREFIX)
                    .and_then(|rest| rest.strip_suffix(tail.as_str()))
                    .is_some_and(|hex| {
                        hex.len() == 12 && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    })
            }
            _ => false,
        };
        if !shaped {
            return Err(format!(
                "commandId prefix '{CHECK_PREFIX}' is reserved for the target checks a rescan \
                 sends; choose another id"
            ));
        }
    } else if let Some((
        Action::Rescan {
            scope: RescanScope::Target {
                rescan_id: Some(_), ..
            },
            ..
        },
        _,
    )) = action
    {
        return Err(format!(
            "a check naming params.rescanId must carry the id that rescan gave it \
             ('{CHECK_PREFIX}...'); only a rescan's own checks may name it"
        ));
    }
    Ok(())
}

pub fn rescan(params: &Map<String, Value>) -> Result<(RescanScope, bool), String> {
    let heal = match params.get("heal") {
        None => true,
        Some(Value::Bool(heal)) => *heal,
        Some(_) => return Err("params.heal must be true or false".to_owned()),
    };
    let scope = match params.get("scope") {
        Some(Value::String(scope)) => scope.as_str(),
        Some(_) => return Err("params.scope must be a string".to_owned()),
        None => return Err("params.scope is required: 'all' or 'site'".to_owned()),
    };
    let scope = match scope {
        "all" | "site" => {
            reject_unknown("params.", params, &["scope", "heal"])?;
            if scope == "all" {
                RescanScope::All
            } else {
                RescanScope::Site
            }
        }
        "target" => {
            reject_unknown(
                "params.",
                params,
                &[
                    "scope",
                    "heal",
                    "distributionId",
                    "target",
                    "rescanId",
                    "rescanScope",
                ],
            )?;
            let kind = params
                .get("target")
                .and_then(Value::as_str)
                .and_then(TargetKind::from_param)
                .ok_or_else(|| "params.target must be 'log-delivery' or 'routing'".to_owned())?;
            let rescan_id = match params.get("rescanId") {
                None => None,
                Some(Value::String(id)) => {
                    Some(CommandId::parse(id).map_err(|rule| format!("params.rescanId {rule}"))?)
                }
                Some(_) => return Err("params.rescanId must be a string".to_owned()),
            };
            let rescan_scope = match params.get("rescanScope").map(|v| v.as_str()) {
                None => None,
                Some(Some("all")) => Some(ParentScope::All),
                Some(Some("site")) => Some(ParentScope::Site),
                Some(_) => return Err("params.rescanScope must be 'all' or 'site'".to_owned()),
            };
            if rescan_id.is_some() != rescan_scope.is_some() {
                return Err("params.rescanId and params.rescanScope go together".to_owned());
            }
            RescanScope::Target {
                distribution_id: distribution_id(params)?,
                kind,
                rescan_id,
                rescan_scope,
            }
        }
        other => {
            return Err(format!(
                "params.scope '{}' is unknown; expected 'all' or 'site'",
                printable(other)
            ))
        }
    };
    Ok((scope, heal))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn scopes_and_heal() {
        assert_eq!(
            rescan(&params(json!({"scope": "all"}))),
            Ok((RescanScope::All, true))
        );
        assert_eq!(
            rescan(&params(json!({"scope": "site", "heal": false}))),
            Ok((RescanScope::Site, false))
        );
        let (scope, _) = rescan(&params(json!({
            "scope": "target", "distributionId": "E2EXAMPLE1ABCD", "target": "routing", "rescanId": "r-1", "rescanScope": "all"
        })))
        .unwrap();
        assert!(matches!(
            scope,
            RescanScope::Target {
                kind: TargetKind::Routing,
                ..
            }
        ));
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        for (value, expected) in [
            (json!({}), "params.scope is required"),
            (
                json!({"scope": "everything"}),
                "params.scope 'everything' is unknown",
            ),
            (json!({"scope": "all", "heal": "yes"}), "params.heal"),
            (
                json!({"scope": "all", "distributionId": "E2EXAMPLE1ABCD"}),
                "unknown field params.distributionId",
            ),
            (json!({"scope": "target", "target": "cdn"}), "params.target"),
            (
                json!({"scope": "target", "target": "routing"}),
                "params.distributionId is required",
            ),
        ] {
            let error = rescan(&params(value.clone())).unwrap_err();
            assert!(error.contains(expected), "{value}: {error}");
        }
    }
}
