//! Logging set-up. Field names are fixed (`message_id`, `command_id`, `code`, `account_id`,
//! `distribution_id`, `aws_calls`, ...); bodies are logged as sizes, secrets never.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// JSON lines for the Lambda function (CloudWatch Logs), level from `RUST_LOG` (default info).
pub fn init_json() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter())
        .with_current_span(true)
        .with_target(false)
        .without_time()
        .init();
}

/// Readable lines on stderr for the CLI, level from `RUST_LOG` (default warn, so progress shows).
pub fn init_human() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}
