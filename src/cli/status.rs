//! `cdn-onboard status`: command records, target records and refused messages, as a table for
//! people or as JSON.

use serde_json::Value;

use crate::records::{CommandKey, StoreError, Table};

/// One command's record.
pub async fn command(
    table: &Table,
    site_id: &str,
    command_id: &str,
) -> Result<Option<Value>, StoreError> {
    command_in(table, &format!("SITE#{site_id}"), command_id).await
}

/// One command record of a partition: `SITE#<siteId>`, or `SYSTEM` for site-less commands
/// (scheduled rescans).
pub async fn command_in(
    table: &Table,
    partition: &str,
    command_id: &str,
) -> Result<Option<Value>, StoreError> {
    let key = CommandKey {
        pk: partition.to_owned(),
        sk: format!("CMD#{command_id}"),
    };
    table.command_json(&key).await
}

/// A site's command records, oldest first.
pub async fn site(table: &Table, site_id: &str) -> Result<Vec<Value>, StoreError> {
    commands_in(table, &format!("SITE#{site_id}")).await
}

/// A partition's command records, oldest first.
pub async fn commands_in(table: &Table, partition: &str) -> Result<Vec<Value>, StoreError> {
    let mut records = table.partition_json(partition, "CMD#").await?;
    records.sort_by(|a, b| text(a, "createdAt").cmp(text(b, "createdAt")));
    Ok(records)
}

/// Messages recorded under `INVALID`.
pub async fn invalid(table: &Table) -> Result<Vec<Value>, StoreError> {
    table.partition_json("INVALID", "MSG#").await
}

/// One distribution's target records.
pub async fn target(
    table: &Table,
    account_id: &str,
    distribution_id: &str,
) -> Result<Vec<Value>, StoreError> {
    table
        .partition_json(&format!("TARGET#{account_id}#{distribution_id}"), "")
        .await
}

fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record.get(field).and_then(Value::as_str).unwrap_or("")
}

fn number(record: &Value, field: &str) -> String {
    record.get(field).map(|v| v.to_string()).unwrap_or_default()
}

fn error_code(record: &Value) -> &str {
    record
        .get("error")
        .and_then(|e| e.get("code"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Command records as an aligned table.
pub fn command_table(records: &[Value]) -> String {
    let header = [
        "COMMAND",
        "TYPE",
        "DISTRIBUTION",
        "STATUS",
        "OUTCOME",
        "ERROR",
        "ATTEMPTS",
        "AWS CALLS",
        "UPDATED",
    ];
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                text(r, "commandId").to_owned(),
                text(r, "type").to_owned(),
                text(r, "distributionId").to_owned(),
                text(r, "status").to_owned(),
                text(r, "outcome").to_owned(),
                error_code(r).to_owned(),
                number(r, "attempts"),
                number(r, "awsCalls"),
                text(r, "updatedAt").to_owned(),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// Refused messages as an aligned table.
pub fn invalid_table(records: &[Value]) -> String {
    let header = ["MESSAGE", "CODE", "COMMAND", "RECEIVED", "REASON"];
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            vec![
                text(r, "messageId").to_owned(),
                text(r, "code").to_owned(),
                text(r, "commandId").to_owned(),
                text(r, "receivedAt").to_owned(),
                text(r, "reason").to_owned(),
            ]
        })
        .collect();
    aligned(&header, &rows)
}

/// One record in full: one `field: value` line each, maps as JSON; a deploy's or plan's steps
/// as a table after them.
pub fn details(record: &Value) -> String {
    let Some(fields) = record.as_object() else {
        return record.to_string();
    };
    let width = fields.keys().map(String::len).max().unwrap_or(0);
    let mut out: String = fields
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "pk" | "sk" | "claimToken" | "gsi1pk" | "gsi1sk" | "gsi2pk" | "gsi2sk" | "steps"
            )
        })
        .map(|(k, v)| {
            let shown = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            format!("{k:<width$}  {shown}\n")
        })
        .collect();
    if let Some(steps) = steps_table(record) {
        out.push('\n');
        out.push_str(&steps);
    }
    out
}

/// A deploy's steps (status, change, detail) or a plan's (what each step would do, and why)
/// as an aligned table.
pub fn steps_table(record: &Value) -> Option<String> {
    let steps = record.get("steps")?.as_array()?;
    let plan = steps.iter().any(|s| !text(s, "action").is_empty());
    if plan {
        let rows: Vec<Vec<String>> = steps
            .iter()
            .map(|s| {
                vec![
                    text(s, "label").to_owned(),
                    text(s, "action").to_owned(),
                    text(s, "detail").to_owned(),
                ]
            })
            .collect();
        return Some(aligned(&["STEP", "PLAN", "REASON"], &rows));
    }
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                text(s, "label").to_owned(),
                text(s, "status").to_owned(),
                text(s, "change").to_owned(),
                text(s, "detail").to_owned(),
            ]
        })
        .collect();
    Some(aligned(&["STEP", "STATUS", "CHANGE", "DETAIL"], &rows))
}

/// One line of a watched command's progress, with its steps.
pub fn progress(record: &Value) -> String {
    let mut line = format!("{}  {}", text(record, "updatedAt"), text(record, "status"));
    for (field, shown) in [
        ("outcome", text(record, "outcome")),
        ("error", error_code(record)),
    ] {
        if !shown.is_empty() {
            line.push_str(&format!("  {field} {shown}"));
        }
    }
    if text(record, "status") == "waiting" {
        if let Some(next) = record.get("wait").map(|w| text(w, "nextCheckAt")) {
            line.push_str(&format!("  next check {next}"));
        }
    }
    let mut out = format!("{line}\n");
    if let Some(steps) = steps_table(record) {
        out.push_str(&steps);
    }
    out
}

/// Whether a command has finished for good.
pub fn is_settled(record: &Value) -> bool {
    matches!(text(record, "status"), "succeeded" | "failed")
}

fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tables_align_and_show_error_codes() {
        let records = vec![serde_json::json!({
            "commandId": "c-1", "type": "enable-log-delivery", "status": "failed",
            "error": {"code": "CONFLICT", "message": "m", "retryable": false},
            "attempts": 1, "awsCalls": 3
        })];
        let table = command_table(&records);
        let lines: Vec<_> = table.lines().collect();
        assert!(lines[0].starts_with("COMMAND"));
        assert!(lines[1].contains("CONFLICT"));
        assert_eq!(lines[0].find("TYPE"), lines[1].find("enable-log-delivery"));
    }

    #[test]
    fn steps_show_as_a_table_with_their_change_or_plan_action() {
        let record = serde_json::json!({
            "commandId": "d-1", "status": "waiting", "updatedAt": "t",
            "wait": {"nextCheckAt": "t+10"},
            "steps": [
                {"key": "origin", "label": "Edge Optimize origin", "status": "done", "change": "created", "detail": "added"},
                {"key": "lambda", "label": "Lambda@Edge", "status": "in_progress", "detail": "provisioning"},
                {"key": "cache", "label": "Cache policy", "status": "error", "action": "blocked", "detail": "no"}
            ]
        });
        let shown = details(&record);
        assert!(
            !shown.contains("\"key\""),
            "steps are not dumped as JSON: {shown}"
        );
        let table = steps_table(&record).unwrap();
        let lines: Vec<_> = table.lines().collect();
        assert!(
            lines[0].contains("PLAN"),
            "a row with an action makes a plan table: {table}"
        );
        assert!(lines[3].contains("blocked"));
        let deploy = serde_json::json!({"steps": [
            {"key": "origin", "label": "Edge Optimize origin", "status": "done", "change": "created", "detail": "added"}
        ]});
        let table = steps_table(&deploy).unwrap();
        assert!(table.lines().next().unwrap().contains("STATUS"));
        assert!(table.lines().nth(1).unwrap().contains("created"));
        assert!(progress(&record).starts_with("t  waiting  next check t+10"));
        assert!(!is_settled(&record));
    }
}
