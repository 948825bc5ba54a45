//! `rmpack status`: which module versions a cluster registers, which nodes hold each artifact,
//! which databases run which version, and the drift between them (exit 1); given the release's
//! zips, the healing commands name them.

use std::path::PathBuf;

use rmpack::bundle::Limits;
use rmpack::report;
use rmpack::rollout::status::cluster_status;

use super::connection::{cluster_words, rollout_failure, ClusterArgs, FleetArgs};
use super::Status;

/// Arguments of `rmpack status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    fleet: FleetArgs,
    /// Reach nodes by their external_addr instead of addr.
    #[arg(long)]
    external: bool,
    /// The release's zips (files or folders): the healing commands name the zip each node needs.
    #[arg(value_name = "RELEASE")]
    release: Vec<PathBuf>,
}

/// Runs `rmpack status`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    if let Some(fleet) = &args.fleet.fleet {
        return run_fleet(&args, fleet, listener);
    }
    let client = args.cluster.connect(listener)?;
    let mut flags = cluster_words();
    if args.external {
        flags.push("--external".to_string());
    }
    let set = open_release(&args)?;
    let status = cluster_status(&client, args.external, &flags, set.as_ref())
        .map_err(|e| rollout_failure(e, "cannot read the cluster"))?;
    if args.cluster.json {
        print!("{}", report::json_pretty(&status));
    } else {
        let style = super::ui::stdout_style();
        print!("{}", report::status(&status, style));
    }
    Ok(if status.is_consistent() {
        Status::Success
    } else {
        Status::Failure
    })
}

/// The release set given, if any.
fn open_release(args: &Args) -> anyhow::Result<Option<rmpack::release::ReleaseSet>> {
    if args.release.is_empty() {
        return Ok(None);
    }
    let inputs = rmpack::release::collect_inputs(&args.release)?;
    Ok(Some(rmpack::release::open_set(&inputs, Limits::default())))
}

/// `status --fleet`: every cluster at once, compared.
fn run_fleet(
    args: &Args,
    fleet: &str,
    listener: std::sync::Arc<super::ui::TermListener>,
) -> anyhow::Result<Status> {
    let members = args
        .cluster
        .connect_fleet(fleet, args.fleet.clusters.as_deref(), listener)?;
    let set = open_release(args)?;
    // A cluster's own heal commands reach it by its profile.
    let mut shared: Vec<String> = cluster_words()
        .into_iter()
        .filter(|w| w == "--insecure" || w == "--allow-http")
        .collect();
    if args.external {
        shared.push("--external".to_string());
    }
    let words_for = |profile: &str| {
        let mut words = vec!["--profile".to_string(), profile.to_string()];
        words.extend(shared.iter().cloned());
        words
    };
    let release: Vec<String> = args
        .release
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let status = rmpack::rollout::fleet::fleet_status(
        fleet,
        &members,
        args.external,
        set.as_ref(),
        &words_for,
        &release,
    );
    if args.cluster.json {
        print!("{}", report::json_pretty(&status));
    } else {
        let style = super::ui::stdout_style();
        print!("{}", report::fleet_status(&status, style));
    }
    Ok(if status.is_consistent() {
        Status::Success
    } else {
        Status::Failure
    })
}
