//! `rmpack status`: which module versions a cluster registers, which nodes hold each artifact,
//! which databases run which version, and the drift between them (exit 1); given the release's
//! zips, the healing commands name them.

use std::io::IsTerminal;
use std::path::PathBuf;

use rmpack::bundle::Limits;
use rmpack::report;
use rmpack::rollout::status::cluster_status;

use super::connection::{cluster_words, rollout_failure, ClusterArgs};
use super::Status;

/// Arguments of `rmpack status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    cluster: ClusterArgs,
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
    let client = args.cluster.connect(listener)?;
    let mut flags = cluster_words();
    if args.external {
        flags.push("--external".to_string());
    }
    let set = if args.release.is_empty() {
        None
    } else {
        let inputs = rmpack::release::collect_inputs(&args.release)?;
        Some(rmpack::release::open_set(&inputs, Limits::default()))
    };
    let status = cluster_status(&client, args.external, &flags, set.as_ref())
        .map_err(|e| rollout_failure(e, "cannot read the cluster"))?;
    if args.cluster.json {
        print!("{}", report::json_pretty(&status));
    } else {
        let style = report::Style {
            color: std::io::stdout().is_terminal(),
        };
        print!("{}", report::status(&status, style));
    }
    Ok(if status.is_consistent() {
        Status::Success
    } else {
        Status::Failure
    })
}
