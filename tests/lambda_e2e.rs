//! End to end: the real Lambda binary under the Lambda runtime emulator (`cargo lambda watch`),
//! fed the SQS events in `events/` with `cargo lambda invoke`, against the local stack.
//!
//! Needs `cargo lambda` on PATH (scripts/test puts the project's venv, which has it, first).

mod support;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::stack::Stack;

const FUNCTION: &str = "cdn-onboard-lambda";

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        // The function process runs in a session of its own and ends with the watcher.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cargo_lambda_available() -> bool {
    Command::new("cargo")
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn watch(stack: &Stack, port: u16) -> Watch {
    let log = std::fs::File::create(repo().join("target/lambda-watch.log")).unwrap();
    let child = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "--quiet",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .args(["--bin", FUNCTION])
        .envs(stack.vars())
        .env("RUST_LOG", "info")
        .current_dir(repo())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start cargo lambda watch");
    Watch(child)
}

fn invoke(port: u16, event_file: &str) -> Value {
    let output = Command::new("cargo")
        .args(["lambda", "invoke", FUNCTION, "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .arg("--data-file")
        .arg(repo().join("events").join(event_file))
        .current_dir(repo())
        .output()
        .expect("run cargo lambda invoke");
    assert!(
        output.status.success(),
        "invoke {event_file} failed: {}\n(see target/lambda-watch.log)",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the function answers JSON")
}

fn wait_until_listening(port: u16) {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not listen on {port}; see target/lambda-watch.log"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn the_lambda_binary_handles_the_sample_events() {
    assert!(
        cargo_lambda_available(),
        "`cargo lambda` is not on PATH: run scripts/test, which installs it into .venv"
    );
    let stack = Stack::connect().await;
    let port = free_port();
    let _watch = watch(&stack, port);
    wait_until_listening(port);

    for event in [
        "enable-log-delivery.json",
        "duplicate.json",
        "malformed.json",
        "disable-log-delivery.json",
        "discover.json",
        "rescan-scheduled.json",
    ] {
        let response = invoke(port, event);
        assert_eq!(
            response,
            serde_json::json!({"batchItemFailures": []}),
            "{event}"
        );
    }

    let enabled = stack.record("site-demo", "evt-enable-0001").await;
    assert_eq!(enabled["status"], "succeeded", "{enabled}");
    let duplicate = stack.record("site-demo", "evt-enable-0002").await;
    assert_eq!(duplicate["status"], "succeeded");
    assert_eq!(
        duplicate["attempts"], 1,
        "the duplicate in the same batch was replayed"
    );
    let disabled = stack.record("site-demo", "evt-disable-0001").await;
    assert_eq!(disabled["status"], "succeeded");
    let malformed = stack
        .invalid_record("7c1f0d2a-0005-4b8e-9d1a-000000000005")
        .await;
    assert_eq!(malformed["code"], "INVALID_COMMAND");
    let scheduled = stack
        .table()
        .command_json(&cdn_onboard::records::CommandKey {
            pk: "SYSTEM".into(),
            sk: "CMD#rescan-2026-12-03T18:00:00Z".into(),
        })
        .await
        .unwrap()
        .expect("the scheduled rescan's record, under SYSTEM");
    assert_eq!(scheduled["outcome"], "fanned-out", "{scheduled}");
    let discovered = stack.record("site-demo", "evt-discover-0001").await;
    assert_eq!(discovered["outcome"], "connected", "{discovered}");
    assert_eq!(discovered["result"]["distribution"]["found"], false);
    assert!(
        !discovered["result"]["distributions"]
            .as_array()
            .unwrap()
            .is_empty(),
        "the demo distributions are listed: {discovered}"
    );
}
