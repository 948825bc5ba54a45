//! `rmpack upgrade`: move databases to another version of one of their modules, keeping their
//! Redis version unless `--redis-version` asks for a move.

use std::time::Duration;

use anyhow::Context;
use rmpack::cluster::PollOptions;
use rmpack::manifest::ModuleVersion;
use rmpack::report;
use rmpack::rollout::upgrade::{plan_upgrade, Databases, UpgradeOptions};
use rmpack::rollout::ResumeBase;

use super::connection::{
    plain_uid, refusal_failure, report_fleet, report_outcome, rollout_failure, ClusterArgs,
    FleetArgs,
};
use super::Status;

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
    #[command(flatten)]
    fleet: FleetArgs,
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

/// Runs `rmpack upgrade`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let to = args
        .to
        .as_deref()
        .map(ModuleVersion::parse_any)
        .transpose()
        .context("--to")?;
    let listener = args.cluster.listener();
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
        resume: ResumeBase::from_args(
            std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
            2,
            &["--db"],
            &["--all", "--json", "--dry-run", "--cluster-preview"],
        ),
    };
    let databases = if args.all {
        Databases::All
    } else {
        Databases::Listed(args.db.clone())
    };
    if let Some(fleet) = &args.fleet.fleet {
        if args.cluster_preview {
            anyhow::bail!(
                "--cluster-preview asks one cluster to simulate; it cannot be used with --fleet"
            );
        }
        let members =
            args.cluster
                .connect_fleet(fleet, args.fleet.clusters.as_deref(), listener.clone())?;
        // The fleet resumes with its clusters left, the databases picked as they were.
        let options = UpgradeOptions {
            resume: ResumeBase::from_args(
                std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
                2,
                &[rmpack::rollout::fleet::CLUSTERS_OPTION],
                &["--json", "--dry-run"],
            ),
            ..options
        };
        let plan = rmpack::rollout::fleet::plan_fleet_upgrade(fleet, members, &databases, &options);
        return Ok(report_fleet(&plan, args.dry_run, args.cluster.json));
    }
    let client = args.cluster.connect(listener.clone())?;
    let mut plan = plan_upgrade(&client, &databases, &options)
        .map_err(|e| rollout_failure(e, "upgrade refused"))?;
    let style = super::ui::stdout_style();
    if args.dry_run {
        if args.cluster_preview {
            plan.ask_cluster_preview(&client);
        }
        if args.cluster.json {
            print!("{}", report::json_pretty(&plan));
        } else {
            print!("{}", report::upgrade_plan(&plan, style));
        }
        if let Some(refusal) = plan.unaccepted_moves() {
            // The plan as it stands would be refused: say so, as the real run would.
            return Err(refusal_failure(&refusal));
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
    let outcome = {
        let _deferred = rmpack::interrupt::defer_stop();
        plan.execute(&client, &rmpack::interrupt::stop_requested)
            .map_err(|e| rollout_failure(e, "upgrade refused"))?
    };
    Ok(report_outcome(&outcome, args.cluster.json))
}
