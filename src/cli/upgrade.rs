//! `rmpack upgrade`: move databases to another version of one of their modules, keeping their
//! Redis version unless `--redis-version` asks for a move.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use rmpack::cluster::PollOptions;
use rmpack::manifest::{ModuleVersion, SemanticVersion};
use rmpack::report;
use rmpack::rollout::upgrade::{plan_upgrade, Databases, PlanFailure, UpgradeOptions};

use super::connection::{cluster_words, plain_uid, rollout_failure, ClusterArgs};
use super::{CheckFailed, Status};

/// Arguments of `rmpack upgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The databases' uids, comma separated, upgraded one at a time in this order.
    #[arg(
        long,
        value_name = "UIDS",
        value_delimiter = ',',
        value_parser = plain_uid,
        required_unless_present = "all",
        conflicts_with = "all"
    )]
    db: Vec<String>,
    /// Every database that runs the module.
    #[arg(long)]
    all: bool,
    /// The module to upgrade (its module_name).
    #[arg(long, value_name = "NAME")]
    module: String,
    /// The version to move to (semantic, e.g. 2.4.1); when omitted, each database gets what RS
    /// gives it: the newest build that fits its (target) Redis version.
    #[arg(long, value_name = "VERSION")]
    to: Option<String>,
    /// Move the databases to this Redis version (one the nodes offer); without it each
    /// database keeps its own.
    #[arg(long, value_name = "VERSION")]
    redis_version: Option<String>,
    /// Load the new version with these arguments (default: the database's current ones).
    #[arg(long, value_name = "ARGS")]
    module_args: Option<String>,
    /// Keep the shards' master/replica roles (costs an extra failover).
    #[arg(long)]
    preserve_roles: bool,
    /// Allow discarding the data of a non-replicated, non-persistent database.
    #[arg(long)]
    may_discard_data: bool,
    /// Restart the shards even where RS would not.
    #[arg(long)]
    force_restart: bool,
    /// Shards upgraded at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    parallel_shards_upgrade: Option<u32>,
    /// Accept that RS (7.8.2 and later) also moves the database's other modules to their
    /// newest fitting builds; the plan lists each move, and nothing is sent without this flag
    /// when there is one.
    #[arg(long)]
    accept_other_modules: bool,
    /// Print the plan (databases, Redis and module versions before → after) and stop; only GET
    /// requests are sent.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run, also ask the cluster for its own preview: POST
    /// /v1/bdbs/{uid}/upgrade?dry_run=true per database. The REST reference does not list this
    /// parameter, and a cluster that does not know it EXECUTES the upgrade (shards restart):
    /// use it only on clusters known to honour it.
    #[arg(long, requires = "dry_run")]
    cluster_preview: bool,
    /// Seconds to wait for each upgrade.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
    wait: u64,
    /// Seconds between polls of the action (0.05 to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = parse_poll_interval)]
    poll_interval: f64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// A poll interval in seconds: a finite number from 0.05 to 60, checked before anything is sent.
fn parse_poll_interval(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.05..=60.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0.05 to 60"
        )),
    }
}

fn wanted_version(text: &str) -> anyhow::Result<ModuleVersion> {
    if let Ok(semantic) = text.parse::<SemanticVersion>() {
        return Ok(ModuleVersion::from_semantic(semantic)?);
    }
    Ok(text.parse::<ModuleVersion>()?)
}

/// Runs `rmpack upgrade`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let to = args
        .to
        .as_deref()
        .map(wanted_version)
        .transpose()
        .context("--to")?;
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener.clone())?;
    let options = UpgradeOptions {
        module: args.module.clone(),
        to,
        redis_version: args.redis_version.clone(),
        module_args: args.module_args.clone(),
        preserve_roles: args.preserve_roles,
        may_discard_data: args.may_discard_data,
        force_restart: args.force_restart,
        parallel_shards_upgrade: args.parallel_shards_upgrade,
        accept_other_modules: args.accept_other_modules,
        poll: PollOptions {
            interval: Duration::from_secs_f64(args.poll_interval),
            timeout: Duration::from_secs(args.wait),
        },
        busy_timeout: Duration::from_secs(args.cluster.busy_timeout),
    };
    let databases = if args.all {
        Databases::All
    } else {
        Databases::Listed(args.db.clone())
    };
    let mut plan = match plan_upgrade(&client, &databases, &options) {
        Ok(plan) => plan,
        Err(failure) => return Err(plan_failure(failure)),
    };
    let style = report::Style {
        color: std::io::stdout().is_terminal(),
    };
    if args.dry_run {
        if args.cluster_preview {
            plan.ask_cluster_preview(&client);
        }
        if args.cluster.json {
            print!("{}", report::json_pretty(&plan));
        } else {
            print!("{}", report::upgrade_plan(&plan, style));
        }
        let unaccepted = plan.unaccepted_moves();
        if !unaccepted.is_empty() {
            // The plan as it stands would be refused: say so, as the real run would.
            return Err(plan_failure(PlanFailure::Preflight(unaccepted)));
        }
        // The cluster changed something although asked not to: not a clean dry run.
        return Ok(if plan.started_despite_dry_run.is_empty() {
            Status::Success
        } else {
            Status::Failure
        });
    }
    if !args.cluster.json && !args.cluster.quiet {
        eprint!("{}", report::upgrade_plan(&plan, report::Style::default()));
    }
    let outcome = plan.execute(&client).map_err(plan_failure)?;
    let resume = (!outcome.is_complete()).then(|| resume_command(&args, &outcome.remaining()));
    if args.cluster.json {
        let mut value = serde_json::to_value(&outcome).context("cannot render the upgrade")?;
        if let Some(object) = value.as_object_mut() {
            object.insert("complete".into(), outcome.is_complete().into());
            object.insert(
                "resume_command".into(),
                resume.clone().map_or(serde_json::Value::Null, Into::into),
            );
        }
        print!("{}", report::json_pretty(&value));
    } else {
        print!(
            "{}",
            report::upgrade_rows(&outcome, resume.as_deref(), style)
        );
    }
    Ok(if outcome.is_complete() {
        Status::Success
    } else {
        Status::Failure
    })
}

/// A refused plan: the findings on stderr, exit 1 (nothing was sent).
fn plan_failure(failure: PlanFailure) -> anyhow::Error {
    match failure {
        PlanFailure::Preflight(refusals) => {
            let style = report::Style {
                color: std::io::stderr().is_terminal(),
            };
            for refusal in &refusals {
                eprint!("{}", report::human(&refusal.report, style));
            }
            let uids: Vec<&str> = refusals.iter().map(|r| r.uid.as_str()).collect();
            anyhow::Error::new(CheckFailed(format!(
                "the pre-flight refused database(s) {}; nothing was sent to the cluster",
                uids.join(", ")
            )))
        }
        PlanFailure::Other(error) => rollout_failure(error, "upgrade refused"),
    }
}

/// The command that upgrades the databases left after a failure, each word quoted for a shell.
fn resume_command(args: &Args, remaining: &[String]) -> String {
    let mut words = vec![
        "rmpack".to_string(),
        "upgrade".to_string(),
        "--db".to_string(),
        remaining.join(","),
        "--module".to_string(),
        args.module.clone(),
    ];
    if let Some(to) = &args.to {
        words.extend(["--to".to_string(), to.clone()]);
    }
    if let Some(redis) = &args.redis_version {
        words.extend(["--redis-version".to_string(), redis.clone()]);
    }
    if let Some(module_args) = &args.module_args {
        words.extend(["--module-args".to_string(), module_args.clone()]);
    }
    for (on, flag) in [
        (args.accept_other_modules, "--accept-other-modules"),
        (args.preserve_roles, "--preserve-roles"),
        (args.may_discard_data, "--may-discard-data"),
        (args.force_restart, "--force-restart"),
    ] {
        if on {
            words.push(flag.to_string());
        }
    }
    words.extend(cluster_words());
    rmpack::text::command_line(words)
}
