//! `rmpack upload`: register a release's module versions and put on every node the zip built
//! for it (or upload them bundled).

use std::path::PathBuf;
use std::time::Duration;

use rmpack::bundle::Limits;
use rmpack::cluster::PollOptions;
use rmpack::rollout::{self, ResumeBase, RolloutError, UploadFlow, UploadOptions};

use super::connection::{
    refusal_failure, report_fleet, report_outcome, rollout_failure, ClusterArgs, FleetArgs,
};
use super::Status;

/// Arguments of `rmpack upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module zips (from `rmpack pack`): one, the zips of a release, or folders of them.
    #[arg(required = true, value_name = "ZIP")]
    zips: Vec<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Only these nodes (uids, comma separated), e.g. to resume a partial rollout.
    #[arg(long, value_delimiter = ',', value_name = "UIDS", value_parser = super::connection::plain_uid)]
    nodes: Option<Vec<String>>,
    /// Reach nodes by their external_addr instead of addr.
    #[arg(long)]
    external: bool,
    /// Uploads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Print the plan (each version's registration, the zip each node gets, the requests) and
    /// stop; only GET requests are sent.
    #[arg(long)]
    dry_run: bool,
    /// When a node fails, delete what this run uploaded and registered.
    #[arg(long)]
    rollback_on_failure: bool,
    /// Force the bundled (RAMP-style) upload: POST /v2/modules once per version, followed to
    /// its end (the default before RS 8.0).
    #[arg(long, conflicts_with = "user_defined")]
    bundled: bool,
    /// Force the custom-module flow: configuration, then the zip to every node (the default
    /// from RS 8.0 on).
    #[arg(long)]
    user_defined: bool,
    /// Treat pre-flight warnings as errors.
    #[arg(long)]
    strict: bool,
}

/// Runs `rmpack upload`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let inputs = rmpack::release::collect_inputs(&args.zips)?;
    let options = UploadOptions {
        nodes: args.nodes.clone(),
        external: args.external,
        concurrency: args.concurrency as usize,
        rollback_on_failure: args.rollback_on_failure,
        flow: if args.bundled {
            Some(UploadFlow::Bundled)
        } else if args.user_defined {
            Some(UploadFlow::UserDefined)
        } else {
            None
        },
        strict: args.strict,
        poll: PollOptions::default(),
        busy_timeout: Duration::from_secs(args.cluster.busy_timeout),
        resume: ResumeBase::from_args(
            std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
            2,
            &["--nodes"],
            &["--json", "--rollback-on-failure", "--dry-run"],
        ),
    };
    if let Some(fleet) = &args.fleet.fleet {
        if args.nodes.is_some() {
            anyhow::bail!("--nodes names nodes of one cluster; it cannot be used with --fleet");
        }
        let members =
            args.cluster
                .connect_fleet(fleet, args.fleet.clusters.as_deref(), listener.clone())?;
        // The fleet resumes with its clusters left.
        let options = UploadOptions {
            resume: ResumeBase::from_args(
                std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
                2,
                &[rollout::fleet::CLUSTERS_OPTION],
                &["--json", "--dry-run"],
            ),
            ..options
        };
        let mut set = rmpack::release::open_set(&inputs, Limits::default());
        let plan = rollout::fleet::plan_fleet_upload(fleet, members, &mut set, &options);
        drop(set);
        return Ok(report_fleet(&plan, args.dry_run, args.cluster.json));
    }
    let client = args.cluster.connect(listener.clone())?;
    // The zips are read once; the plan keeps their open files, which is what gets sent.
    let mut set = rmpack::release::open_set(&inputs, Limits::default());
    let plan = match rollout::plan_upload(&client, &mut set, &options) {
        Ok(plan) => plan,
        Err(RolloutError::Preflight(refusal)) => return Err(refusal_failure(&refusal)),
        Err(error) => return Err(rollout_failure(error, "upload refused")),
    };
    drop(set);
    let outcome = if args.dry_run {
        plan.as_outcome()
    } else {
        let _deferred = rmpack::interrupt::defer_stop();
        plan.execute(&client, &rmpack::interrupt::stop_requested)
    };
    Ok(report_outcome(&outcome, args.cluster.json))
}
