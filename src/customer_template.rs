//! The CloudFormation template a customer launches to create the connector role, one per
//! [`Variant`], generated from [`PERMISSIONS`] so that the role grants exactly what the code
//! calls. Its metadata carries the same permissions, grouped, with a reason each, for a UI to
//! show the customer what they grant.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::DEFAULT_ROLE_NAME;
use crate::edge::names::ROLE_BOUNDARY_SUFFIX;
use crate::log_delivery::MANAGED_BY_TAG_KEY;
use crate::permissions::{granted_by, Scope, Variant, PERMISSIONS};

/// The key of a variant's template in the template bucket, and its file in `infra/customer/`.
pub fn file_name(variant: Variant) -> String {
    format!("connector-role-{}.json", variant.as_str())
}

/// The metadata key under which a template describes its permissions.
pub const METADATA_KEY: &str = "CdnOnboardPermissions";

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Any => "Any",
        Scope::RoutingFunctions => "RoutingFunctions",
        Scope::EdgeLambdas => "EdgeLambdas",
        Scope::EdgeRoles => "EdgeRoles",
        Scope::EdgeServiceLinkedRoles => "ServiceLinkedRoles",
    }
}

fn resources(scope: Scope) -> Value {
    Value::Array(
        scope
            .resources()
            .iter()
            .map(|arn| {
                if arn.contains("${") {
                    json!({"Fn::Sub": arn})
                } else {
                    json!(arn)
                }
            })
            .collect(),
    )
}

/// The permissions boundary of the Lambda@Edge execution roles, as a template value: the
/// policy `RoleBoundary`, named after the role (`edge::names::role_boundary_policy`).
fn boundary_arn() -> Value {
    json!({"Fn::Sub": format!(
        "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/${{RoleName}}{ROLE_BOUNDARY_SUFFIX}"
    )})
}

/// The boundary policy: what a Lambda@Edge execution role may ever do, write its logs.
fn boundary_policy() -> Value {
    json!({
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "ManagedPolicyName": {"Fn::Sub": format!("${{RoleName}}{ROLE_BOUNDARY_SUFFIX}")},
            "Description": "The most a cdn-onboard Lambda@Edge execution role may do: write its logs",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:*:${AWS::AccountId}:*"}
                }]
            }
        }
    })
}

/// Conditions that narrow an action further than its resource can.
fn condition(action: &str) -> Option<Value> {
    match action {
        // The service can only make roles that can do no more than the boundary allows.
        // (UpdateAssumeRolePolicy has no `iam:PermissionsBoundary` key to condition on: the
        // service checks a role's boundary before it changes the role's trust.)
        "iam:CreateRole" | "iam:PutRolePolicy" => {
            Some(json!({"StringEquals": {"iam:PermissionsBoundary": boundary_arn()}}))
        }
        "logs:TagResource" => Some(json!({
            "ForAllValues:StringEquals": {"aws:TagKeys": [MANAGED_BY_TAG_KEY]}
        })),
        "iam:PassRole" => {
            Some(json!({"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}))
        }
        "iam:CreateServiceLinkedRole" => Some(json!({
            "StringEquals": {"iam:AWSServiceName": ["replicator.lambda.amazonaws.com", "logger.cloudfront.amazonaws.com"]}
        })),
        _ => None,
    }
}

/// One statement in the making: the actions of one group, scope and condition.
struct Statement {
    scope: Scope,
    condition: Option<Value>,
    actions: Vec<&'static str>,
}

/// The policy statements: one per group, scope and condition, in the table's group order,
/// actions sorted.
fn statements(variant: Variant) -> Vec<Value> {
    // Keyed by (the group's first position in the table, the statement id).
    let mut grouped: BTreeMap<(usize, String), Statement> = BTreeMap::new();
    for permission in granted_by(variant) {
        let condition = condition(permission.action);
        let sid = format!(
            "{}{}{}",
            permission.group,
            scope_name(permission.scope),
            if condition.is_some() {
                permission.action.replace([':', '*'], "")
            } else {
                String::new()
            }
        );
        let order = PERMISSIONS
            .iter()
            .position(|p| p.group == permission.group)
            .unwrap_or(0);
        grouped
            .entry((order, sid))
            .or_insert_with(|| Statement {
                scope: permission.scope,
                condition,
                actions: Vec::new(),
            })
            .actions
            .push(permission.action);
    }
    grouped
        .into_iter()
        .map(|((_, sid), statement)| {
            let Statement {
                scope,
                condition,
                mut actions,
            } = statement;
            actions.sort_unstable();
            let mut statement = json!({
                "Sid": sid,
                "Effect": "Allow",
                "Action": actions,
                "Resource": resources(scope),
            });
            if let Some(condition) = condition {
                statement["Condition"] = condition;
            }
            statement
        })
        .collect()
}

/// The permissions as the template's metadata describes them: groups of
/// `{action, resources, reason}`.
fn metadata(variant: Variant) -> Value {
    let mut groups: Vec<(&str, Vec<Value>)> = Vec::new();
    for permission in granted_by(variant) {
        // For people: the account as words, not as a CloudFormation substitution.
        let resources: Vec<String> = permission
            .scope
            .resources()
            .iter()
            .map(|arn| {
                arn.replace("${AWS::Partition}", "aws")
                    .replace("${AWS::AccountId}", "<this account>")
            })
            .collect();
        let entry = json!({
            "action": permission.action,
            "resources": resources,
            "reason": permission.reason,
        });
        match groups
            .iter_mut()
            .find(|(name, _)| *name == permission.group)
        {
            Some((_, list)) => list.push(entry),
            None => groups.push((permission.group, vec![entry])),
        }
    }
    json!({
        "variant": variant.as_str(),
        "groups": groups
            .into_iter()
            .map(|(name, permissions)| json!({"name": name, "permissions": permissions}))
            .collect::<Vec<_>>(),
    })
}

/// The whole template.
pub fn template(variant: Variant) -> Value {
    let what = match variant {
        Variant::LogOnly => "forward CloudFront access logs to the tenant's log destination",
        Variant::LogAndRouting => {
            "forward CloudFront access logs and route AI agents to Edge Optimize"
        }
    };
    let mut template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("cdn-onboard connector role ({}): lets the service {what}", variant.as_str()),
        "Metadata": {METADATA_KEY: metadata(variant)},
        "Parameters": {
            "TrustedPrincipalArn": {
                "Type": "String",
                "AllowedPattern": "^arn:aws:iam::[0-9]{12}:(root|role/.+)$",
                "Description": "The service's execution role, the only principal the connector role trusts"
            },
            "ExternalId": {
                "Type": "String",
                "MinLength": 2,
                "MaxLength": 1224,
                "AllowedPattern": "^[\\w+=,.@:/-]+$",
                "Description": "The tenant's IMS org id; the service presents it on every AssumeRole"
            },
            "RoleName": {
                "Type": "String",
                "Default": DEFAULT_ROLE_NAME,
                "AllowedPattern": "^[A-Za-z0-9+=,.@_-]{1,64}$",
                "Description": "The connector role's name, as the service is configured to assume it"
            }
        },
        "Resources": {
            "ConnectorRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "RoleName"},
                    "Description": format!("cdn-onboard connector role ({})", variant.as_str()),
                    "MaxSessionDuration": 3600,
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Ref": "TrustedPrincipalArn"}},
                            "Action": "sts:AssumeRole",
                            "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}}
                        }]
                    },
                    "Policies": [{
                        "PolicyName": "CdnOnboardConnector",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements(variant)}
                    }]
                }
            }
        },
        "Outputs": {
            "RoleArn": {"Value": {"Fn::GetAtt": ["ConnectorRole", "Arn"]}},
            "RoleName": {"Value": {"Ref": "ConnectorRole"}}
        }
    });
    if variant == Variant::LogAndRouting {
        template["Resources"]["RoleBoundary"] = boundary_policy();
    }
    template
}

/// The template as its file holds it: keys sorted at every level, so the text is the same
/// whether or not a build's `serde_json` keeps insertion order.
pub fn text(variant: Variant) -> String {
    let mut text =
        serde_json::to_string_pretty(&sorted(template(variant))).expect("a template serializes");
    text.push('\n');
    text
}

fn sorted(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted_actions(template: &Value) -> Vec<String> {
        let mut actions: Vec<String> = template["Resources"]["ConnectorRole"]["Properties"]
            ["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
            })
            .collect();
        actions.sort();
        actions
    }

    #[test]
    fn each_variant_grants_exactly_its_permissions() {
        for variant in Variant::ALL {
            let mut expected: Vec<String> =
                granted_by(variant).map(|p| p.action.to_owned()).collect();
            expected.sort();
            assert_eq!(granted_actions(&template(variant)), expected, "{variant:?}");
        }
        let log_only = granted_actions(&template(Variant::LogOnly));
        assert!(log_only
            .iter()
            .all(|a| a.starts_with("logs:") || a.starts_with("cloudfront:")));
        assert!(!log_only.contains(&"cloudfront:UpdateDistribution".to_owned()));
    }

    #[test]
    fn the_trust_admits_only_the_service_with_the_external_id() {
        let template = template(Variant::LogAndRouting);
        let trust = &template["Resources"]["ConnectorRole"]["Properties"]
            ["AssumeRolePolicyDocument"]["Statement"][0];
        assert_eq!(trust["Principal"]["AWS"]["Ref"], "TrustedPrincipalArn");
        assert_eq!(
            trust["Condition"]["StringEquals"]["sts:ExternalId"]["Ref"],
            "ExternalId"
        );
    }

    #[test]
    fn the_metadata_lists_every_permission_with_a_reason() {
        let template = template(Variant::LogAndRouting);
        let groups = template["Metadata"][METADATA_KEY]["groups"]
            .as_array()
            .unwrap();
        let listed: usize = groups
            .iter()
            .map(|g| g["permissions"].as_array().unwrap().len())
            .sum();
        assert_eq!(listed, PERMISSIONS.len());
        assert!(groups.iter().all(|g| g["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["reason"].as_str().is_some_and(|r| !r.is_empty()))));
    }

    fn statement_of<'a>(template: &'a Value, action: &str) -> &'a Value {
        template["Resources"]["ConnectorRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
            .unwrap_or_else(|| panic!("no statement grants {action}"))
    }

    #[test]
    fn edge_roles_can_only_be_made_within_the_boundary_the_template_creates() {
        let template = template(Variant::LogAndRouting);
        for action in ["iam:CreateRole", "iam:PutRolePolicy"] {
            let statement = statement_of(&template, action);
            assert_eq!(
                statement["Action"].as_array().unwrap().len(),
                1,
                "{action} alone"
            );
            assert_eq!(
                statement["Condition"]["StringEquals"]["iam:PermissionsBoundary"],
                boundary_arn(),
                "{action}"
            );
        }
        // IAM has no boundary key for UpdateAssumeRolePolicy: a condition on one would never
        // match, and the heal of a drifted trust would always be refused.
        let trust = statement_of(&template, "iam:UpdateAssumeRolePolicy");
        assert!(trust["Condition"].is_null(), "{trust}");
        assert_eq!(
            trust["Resource"],
            statement_of(&template, "iam:CreateRole")["Resource"],
            "only the edge roles' names"
        );
        let boundary = &template["Resources"]["RoleBoundary"];
        assert_eq!(boundary["Type"], "AWS::IAM::ManagedPolicy");
        assert_eq!(
            boundary["Properties"]["ManagedPolicyName"]["Fn::Sub"],
            format!("${{RoleName}}{ROLE_BOUNDARY_SUFFIX}")
        );
        assert!(
            crate::edge::names::role_boundary_policy("R").ends_with(ROLE_BOUNDARY_SUFFIX),
            "the code names the boundary as the template does"
        );
        assert!(super::template(Variant::LogOnly)["Resources"]["RoleBoundary"].is_null());
    }

    #[test]
    fn actions_without_resource_level_permissions_are_granted_on_every_resource() {
        let template = template(Variant::LogAndRouting);
        assert_eq!(
            statement_of(&template, "cloudfront:CreateFunction")["Resource"],
            json!(["*"])
        );
        assert_eq!(
            statement_of(&template, "cloudfront:ListDistributions")["Resource"],
            json!(["*"])
        );
    }
}
