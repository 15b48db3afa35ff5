//! The operator CLI: send commands, show records, and run the consumer as a long-polling worker.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use cdn_onboard::bootstrap::Templates;
use cdn_onboard::cli::{redrive, send, status, templates};
use cdn_onboard::config::{Config, DEFAULT_RECORD_TTL_DAYS, DEFAULT_ROLE_NAME};
use cdn_onboard::ids::{AccountId, ImsOrgId};
use cdn_onboard::permissions::Variant;
use cdn_onboard::records::Table;
use cdn_onboard::worker::{self, WorkerOptions};
use cdn_onboard::{app, telemetry};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cdn-onboard",
    version,
    about = "Operate the cdn-onboard service: send commands, read records, run the worker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put one command on the queue, from a JSON file (or - for stdin) or built from flags.
    Send(Box<SendArgs>),
    /// Show command records: one command, a site's commands, a distribution's target, or refused messages.
    Status(StatusArgs),
    /// Long-poll the queue and run each batch through the consumer, like the Lambda function.
    Worker(WorkerArgs),
    /// Print the CloudFormation quick-create link that creates a customer's connector role.
    BootstrapUrl(BootstrapArgs),
    /// Move the dead-letter queue's messages back to the command queue (SQS message move task).
    Redrive(RedriveArgs),
    /// Write the customer's connector role templates from the code's permissions (or check them).
    Templates(TemplatesArgs),
}

#[derive(Args)]
struct BootstrapArgs {
    /// The customer's AWS account (12 digits).
    #[arg(long)]
    account_id: String,
    /// The tenant: its IMS org id is the role's external id.
    #[arg(long)]
    ims_org_id: String,
    /// log-only, or log-and-routing.
    #[arg(long, default_value = "log-and-routing")]
    variant: String,
    /// The bucket holding the templates [default: $CDN_ONBOARD_TEMPLATE_BUCKET]
    #[arg(long)]
    template_bucket: Option<String>,
    /// The principal the role trusts [default: $CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN]
    #[arg(long)]
    trusted_principal_arn: Option<String>,
    /// Print every detail as JSON, not only the URL.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RedriveArgs {
    /// The command queue [default: $CDN_ONBOARD_QUEUE_URL]; its dead-letter queue comes from
    /// its redrive policy.
    #[arg(long)]
    queue_url: Option<String>,
    /// Messages moved per second at most, 1 to 500 (SQS's default when absent).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=500))]
    per_second: Option<i32>,
}

#[derive(Args)]
struct TemplatesArgs {
    /// Where the templates live.
    #[arg(long, default_value = "infra/customer")]
    dir: String,
    /// Fail, instead of writing, when a template differs from what the code grants.
    #[arg(long)]
    check: bool,
}

#[derive(Args)]
struct SendArgs {
    /// A file holding the command's JSON body; `-` reads stdin. Sent as it is.
    #[arg(long, conflicts_with_all = ["command_type", "site_id", "distribution_id", "step", "site_base_url"])]
    file: Option<String>,
    /// The command type, e.g. enable-log-delivery.
    #[arg(long = "type", value_name = "TYPE")]
    command_type: Option<String>,
    /// The idempotency key; generated when absent.
    #[arg(long)]
    command_id: Option<String>,
    #[arg(long)]
    site_id: Option<String>,
    #[arg(long)]
    ims_org_id: Option<String>,
    #[arg(long)]
    account_id: Option<String>,
    #[arg(long)]
    distribution_id: Option<String>,
    #[arg(long)]
    requested_by: Option<String>,
    /// deploy-step: origin, function, cache, lambda, associate, propagation, verify or all.
    #[arg(long)]
    step: Option<String>,
    /// deploy-step, plan-deploy: a path pattern, or default.
    #[arg(long)]
    behavior: Option<String>,
    /// deploy-step, plan-deploy: the site's https URL.
    #[arg(long)]
    site_base_url: Option<String>,
    /// deploy-step, plan-deploy: route only this path (repeat for more; at most 20).
    #[arg(long = "targeted-path", value_name = "PATH")]
    targeted_paths: Vec<String>,
    /// deploy-step, plan-deploy: change a distribution that does not serve the site.
    #[arg(long)]
    allow_domain_mismatch: bool,
    /// rescan: all (every registered target; no --site-id, --ims-org-id, --account-id) or site.
    #[arg(long)]
    scope: Option<String>,
    /// rescan: report drift without healing it.
    #[arg(long)]
    report_only: bool,
    /// Send even if the command breaks a contract rule (to exercise the consumer's refusals).
    #[arg(long)]
    unchecked: bool,
    /// The command queue [default: $CDN_ONBOARD_QUEUE_URL]
    #[arg(long)]
    queue_url: Option<String>,
}

#[derive(Args)]
struct StatusArgs {
    #[arg(long, required_unless_present_any = ["invalid", "distribution_id", "system"])]
    site_id: Option<String>,
    /// Site-less commands (scheduled rescans) instead of a site's.
    #[arg(long, conflicts_with = "site_id")]
    system: bool,
    #[arg(long)]
    command_id: Option<String>,
    /// Show the target records of this distribution (with --account-id).
    #[arg(long, requires = "account_id")]
    distribution_id: Option<String>,
    #[arg(long)]
    account_id: Option<String>,
    /// Show messages recorded under INVALID.
    #[arg(long)]
    invalid: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// With --command-id: keep showing the record as its steps progress, until it settles.
    #[arg(long, requires = "command_id")]
    watch: bool,
    /// The records table [default: $CDN_ONBOARD_TABLE]
    #[arg(long)]
    table: Option<String>,
}

#[derive(Args)]
struct WorkerArgs {
    /// Stop once the queue, delayed and in-flight messages included, stays empty for the grace period.
    #[arg(long)]
    drain: bool,
    /// Seconds the queue must stay empty before --drain stops.
    #[arg(long, default_value_t = 3)]
    grace_secs: u64,
    /// Deadline of each batch in seconds, like the Lambda function's timeout.
    #[arg(long, default_value_t = 60)]
    invocation_secs: u64,
}

/// How long `status --watch` follows a command before giving up.
const WATCH_LIMIT: Duration = Duration::from_secs(3600);
/// How long `status --watch` waits for a command's first record.
const WATCH_FIRST_RECORD: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init_human();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => run_send(*args).await,
        Command::Status(args) => run_status(args).await,
        Command::Worker(args) => run_worker(args).await,
        Command::BootstrapUrl(args) => run_bootstrap_url(args).await,
        Command::Redrive(args) => run_redrive(args).await,
        Command::Templates(args) => run_templates(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cdn-onboard: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run_send(args: SendArgs) -> Result<(), String> {
    if args.file.is_none() && args.command_type.as_deref() == Some("rescan") && args.scope.is_none()
    {
        return Err("--scope all|site is required with --type rescan".to_owned());
    }
    let body = match &args.file {
        Some(path) => read_body(path)?,
        None => send::build(&send::CommandFlags {
            command_type: args
                .command_type
                .ok_or("--type is required without --file")?,
            command_id: args.command_id,
            site_id: args.site_id,
            ims_org_id: args.ims_org_id,
            account_id: args.account_id,
            distribution_id: args.distribution_id,
            requested_by: args.requested_by,
            routing: send::RoutingFlags {
                step: args.step,
                behavior: args.behavior,
                site_base_url: args.site_base_url,
                targeted_paths: args.targeted_paths,
                allow_domain_mismatch: args.allow_domain_mismatch,
            },
            scope: args.scope,
            report_only: args.report_only,
        })
        .to_string(),
    };
    if !args.unchecked {
        send::check(&body)
            .map_err(|reason| format!("not sent: {reason} (use --unchecked to send it anyway)"))?;
    }
    let queue_url = from_flag_or_env(args.queue_url, "--queue-url", "CDN_ONBOARD_QUEUE_URL")?;
    let sdk = app::sdk_config().await;
    let message_id = send::send(&aws_sdk_sqs::Client::new(&sdk), &queue_url, &body)
        .await
        .map_err(|e| e.to_string())?;
    let command_id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("commandId")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        });
    match command_id {
        Some(id) => println!("sent commandId={id} messageId={message_id}"),
        None => println!("sent a body without a readable commandId, messageId={message_id}"),
    }
    Ok(())
}

fn from_flag_or_env(flag: Option<String>, name: &str, variable: &str) -> Result<String, String> {
    flag.or_else(|| std::env::var(variable).ok())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{variable} is not set (or pass {name}); eval \"$(scripts/local-stack env)\" sets it for the local stack"))
}

fn read_body(path: &str) -> Result<String, String> {
    if path == "-" {
        let mut body = String::new();
        std::io::stdin()
            .read_to_string(&mut body)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(body);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

async fn run_status(args: StatusArgs) -> Result<(), String> {
    let name = from_flag_or_env(args.table, "--table", "CDN_ONBOARD_TABLE")?;
    let sdk = app::sdk_config().await;
    let table = Table {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        name,
        record_ttl: Duration::from_secs(DEFAULT_RECORD_TTL_DAYS * 86_400),
    };
    let failed = |e: cdn_onboard::records::StoreError| e.to_string();
    if args.invalid {
        let records = status::invalid(&table).await.map_err(failed)?;
        return print(&records, args.json, status::invalid_table);
    }
    if let (Some(account), Some(distribution)) = (&args.account_id, &args.distribution_id) {
        let records = status::target(&table, account, distribution)
            .await
            .map_err(failed)?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&records).expect("JSON values serialize")
            );
        } else {
            for record in &records {
                println!("== {}", record["sk"].as_str().unwrap_or("target"));
                println!("{}", status::details(record));
            }
        }
        return Ok(());
    }
    let (partition, site) = match &args.site_id {
        Some(site) => (format!("SITE#{site}"), site.clone()),
        None => ("SYSTEM".to_owned(), "SYSTEM (site-less)".to_owned()),
    };
    if let Some(command_id) = args.command_id {
        let mut shown_version = None;
        let started = std::time::Instant::now();
        loop {
            let found = status::command_in(&table, &partition, &command_id)
                .await
                .map_err(failed)?;
            let record = match found {
                Some(record) => record,
                None if args.watch && started.elapsed() < WATCH_FIRST_RECORD => {
                    if started.elapsed().is_zero() || shown_version.is_none() {
                        shown_version = Some(serde_json::Value::Null);
                        eprintln!(
                            "status: no record yet for {command_id}; waiting for the consumer"
                        );
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                None if args.watch => {
                    return Err(format!(
                        "no record for command {command_id} of site {site} after {} s; is a \
                         worker (or the function) consuming the queue?",
                        WATCH_FIRST_RECORD.as_secs()
                    ))
                }
                None => return Err(format!("no record for command {command_id} of site {site}")),
            };
            if started.elapsed() >= WATCH_LIMIT {
                return Err(format!(
                    "{command_id} did not settle within {} minutes",
                    WATCH_LIMIT.as_secs() / 60
                ));
            }
            if shown_version.as_ref() != record.get("version") {
                shown_version = record.get("version").cloned();
                if args.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&record).expect("JSON values serialize")
                    );
                } else if args.watch {
                    print!("{}", status::progress(&record));
                } else {
                    print!("{}", status::details(&record));
                }
            }
            if !args.watch || status::is_settled(&record) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    let records = status::commands_in(&table, &partition)
        .await
        .map_err(failed)?;
    print(&records, args.json, status::command_table)
}

fn print(
    records: &[serde_json::Value],
    json: bool,
    table: fn(&[serde_json::Value]) -> String,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(records).expect("JSON values serialize")
        );
    } else {
        print!("{}", table(records));
    }
    Ok(())
}

async fn run_bootstrap_url(args: BootstrapArgs) -> Result<(), String> {
    let variant =
        Variant::from_name(&args.variant).ok_or("--variant must be log-only or log-and-routing")?;
    let account_id =
        AccountId::parse(&args.account_id).map_err(|rule| format!("--account-id {rule}"))?;
    let ims_org_id =
        ImsOrgId::parse(&args.ims_org_id).map_err(|rule| format!("--ims-org-id {rule}"))?;
    let bucket = from_flag_or_env(
        args.template_bucket,
        "--template-bucket",
        "CDN_ONBOARD_TEMPLATE_BUCKET",
    )?;
    let principal = from_flag_or_env(
        args.trusted_principal_arn,
        "--trusted-principal-arn",
        "CDN_ONBOARD_TRUSTED_PRINCIPAL_ARN",
    )?;
    let role_name = std::env::var("EDGE_OPTIMIZE_ROLE_NAME")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| DEFAULT_ROLE_NAME.to_owned());
    let sdk = app::sdk_config().await;
    let templates = Templates {
        s3: app::s3_client(&sdk),
        bucket,
        trusted_principal_arn: principal,
        role_name,
    };
    let link = templates
        .link(&account_id, &ims_org_id, variant)
        .await
        .map_err(|e| e.to_string())?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&link).expect("a link serializes")
        );
    } else {
        println!("{}", link.quick_create_url);
    }
    Ok(())
}

async fn run_redrive(args: RedriveArgs) -> Result<(), String> {
    let queue_url = from_flag_or_env(args.queue_url, "--queue-url", "CDN_ONBOARD_QUEUE_URL")?;
    let sdk = app::sdk_config().await;
    let started = redrive::start(&aws_sdk_sqs::Client::new(&sdk), &queue_url, args.per_second)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "redrive started: {} -> {} (task {})",
        started.dead_letter_queue_arn, started.queue_arn, started.task_handle
    );
    Ok(())
}

fn run_templates(args: TemplatesArgs) -> Result<(), String> {
    let outcome = templates::sync(std::path::Path::new(&args.dir), args.check)?;
    if args.check {
        let (missing, stale): (Vec<_>, Vec<_>) =
            outcome.differing.iter().partition(|p| !p.exists());
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "{} missing (run from the repository's root, or pass --dir)",
                names(&missing)
            ));
        }
        if !stale.is_empty() {
            problems.push(format!(
                "{} differ from the permissions in src/permissions.rs; run `cdn-onboard templates`",
                names(&stale)
            ));
        }
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        };
    }
    for path in &outcome.differing {
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn names(paths: &[&std::path::PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn run_worker(args: WorkerArgs) -> Result<(), String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    let sdk = app::sdk_config().await;
    let consumer = app::consumer(config, &sdk);
    if let Some(mismatch) = app::redrive_mismatch(&consumer).await {
        return Err(mismatch);
    }
    let options = WorkerOptions {
        drain: args.drain,
        grace: Duration::from_secs(args.grace_secs),
        invocation: Duration::from_secs(args.invocation_secs),
    };
    eprintln!(
        "worker: polling {}{}",
        consumer.queue.url,
        if args.drain { " until drained" } else { "" }
    );
    let totals = worker::run(&consumer, &options, |batch| {
        eprintln!(
            "worker: batch of {} handled, {} to retry (so far: {} messages, {} acknowledged, {} retried)",
            batch.messages, batch.retried, batch.totals.messages, batch.totals.acknowledged, batch.totals.retried
        );
    })
    .await
    .map_err(|e| e.to_string())?;
    eprintln!(
        "worker: drained after {} batches: {} messages, {} acknowledged, {} retried",
        totals.batches, totals.messages, totals.acknowledged, totals.retried
    );
    Ok(())
}
