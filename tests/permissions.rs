//! The connector role grants exactly what the code calls in a customer account.
//!
//! Reads the product source (each file up to its `#[cfg(test)]` module): every call on a
//! customer-account client (`cloudfront`, `iam`, `lambda`, `logs`) is an SDK operation whose
//! IAM action must be declared in `permissions::PERMISSIONS`, and every action the code names
//! when it classifies a failure must be declared too. In the other direction, everything
//! declared (but the permissions AWS checks behind another call, marked `implied`) must be
//! called. The generated templates in `infra/customer/` must be current.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cdn_onboard::cli::templates;
use cdn_onboard::permissions::PERMISSIONS;

/// The receivers that are customer-account clients, and the IAM service prefix of each.
const CUSTOMER_CLIENTS: &[(&str, &str)] = &[
    ("cloudfront", "cloudfront"),
    ("iam", "iam"),
    ("lambda", "lambda"),
    ("logs", "logs"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text up to its test module.
fn product_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(product_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let product = text.split("\n#[cfg(test)]").next().unwrap().to_owned();
            found.push((path, product));
        }
    }
    found
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// `svc:Action` for every `<client>.<operation>()` on a customer client in `text` that the
/// statement goes on to `.send()` (an SDK call; whitespace between the parts, as rustfmt breaks
/// chains, is ignored).
fn client_calls(text: &str) -> Vec<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = compact.as_bytes();
    let mut calls = Vec::new();
    for (receiver, service) in CUSTOMER_CLIENTS {
        let needle = format!("{receiver}.");
        for (at, _) in compact.match_indices(&needle) {
            if at > 0 && (is_ident(bytes[at - 1]) || bytes[at - 1] == b'"') {
                continue;
            }
            let start = at + needle.len();
            let end = start + bytes[start..].iter().take_while(|b| is_ident(**b)).count();
            let operation = &compact[start..end];
            let statement = compact[end..].split(';').next().unwrap_or_default();
            if end > start && statement.starts_with("()") && statement.contains(".send()") {
                calls.push(format!("{service}:{}", pascal(operation)));
            }
        }
    }
    calls
}

/// Every `"svc:Action"` literal naming a customer-account action, but those inside IAM policy
/// documents the code writes (a line with `"Action"`: the Lambda@Edge role's own policy).
fn named_actions(text: &str) -> Vec<String> {
    let mut named = Vec::new();
    for line in text.lines().filter(|l| !l.contains("\"Action\"")) {
        for (_, service) in CUSTOMER_CLIENTS {
            let needle = format!("\"{service}:");
            for (at, _) in line.match_indices(&needle) {
                let rest = &line[at + needle.len()..];
                let action: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if !action.is_empty() && rest[action.len()..].starts_with('"') {
                    named.push(format!("{service}:{action}"));
                }
            }
        }
    }
    named
}

fn scanned() -> Vec<(PathBuf, String)> {
    product_sources(&repo().join("src"))
        .into_iter()
        // The table itself, and the template generated from it.
        .filter(|(path, _)| {
            !path.ends_with("permissions.rs") && !path.ends_with("customer_template.rs")
        })
        .collect()
}

fn declared(implied: bool) -> BTreeSet<&'static str> {
    PERMISSIONS
        .iter()
        .filter(|p| p.implied == implied)
        .map(|p| p.action)
        .collect()
}

#[test]
fn every_customer_call_is_granted() {
    let granted = declared(false);
    let mut missing = BTreeSet::new();
    let mut calls = 0;
    for (path, text) in scanned() {
        for action in client_calls(&text).into_iter().chain(named_actions(&text)) {
            calls += 1;
            if !granted.contains(action.as_str()) {
                missing.insert(format!(
                    "{action} ({})",
                    path.strip_prefix(repo()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        calls > 40,
        "the scan finds the code's calls ({calls} found)"
    );
    assert!(
        missing.is_empty(),
        "called in a customer account but not declared in src/permissions.rs: {missing:?}"
    );
}

#[test]
fn everything_granted_is_called() {
    let called: BTreeSet<String> = scanned()
        .iter()
        .flat_map(|(_, text)| client_calls(text))
        .collect();
    let unused: Vec<_> = declared(false)
        .into_iter()
        .filter(|action| !called.contains(*action))
        .collect();
    assert!(unused.is_empty(), "declared but never called: {unused:?}");
    let called_implied: Vec<_> = declared(true)
        .into_iter()
        .filter(|action| called.contains(*action))
        .collect();
    assert!(
        called_implied.is_empty(),
        "called directly, so not `implied`: {called_implied:?}"
    );
}

#[test]
fn the_scan_sees_a_call_split_over_lines_and_ignores_policy_documents() {
    let text = "let x = ctx\n    .cloudfront\n    .get_distribution()\n    .id(id)\n    .send()\n    .await;\n\
                logs.create_delivery().send();\n\
                record.fact(\"name\", ctx.names.lambda.as_str());\n\
                aws_sdk_lambda.create_function();\n\
                json!({\"Action\": \"logs:CreateLogGroup\"});\n\
                classify(&fault, \"iam:GetRole\");\n";
    assert_eq!(
        client_calls(text),
        vec!["cloudfront:GetDistribution", "logs:CreateDelivery"]
    );
    assert_eq!(named_actions(text), vec!["iam:GetRole"]);
}

#[test]
fn the_customer_templates_are_current() {
    let outcome = templates::sync(&repo().join("infra/customer"), true).unwrap();
    assert!(
        outcome.differing.is_empty(),
        "{:?} differ from src/permissions.rs: run `cargo run --bin cdn-onboard -- templates`",
        outcome.differing
    );
}

#[test]
fn log_delivery_needs_only_the_log_only_role() {
    use cdn_onboard::permissions::Variant;
    let log_only: BTreeSet<&str> = PERMISSIONS
        .iter()
        .filter(|p| p.variant == Variant::LogOnly)
        .map(|p| p.action)
        .collect();
    for (path, text) in scanned().into_iter().filter(|(path, _)| {
        path.ends_with("log_delivery.rs") || path.ends_with("log_delivery_check.rs")
    }) {
        for action in client_calls(&text) {
            assert!(
                log_only.contains(action.as_str()),
                "{} calls {action}, which the log-only role does not grant",
                path.display()
            );
        }
    }
}
