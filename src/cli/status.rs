//! `rmpack status`: which module versions a cluster registers, which nodes hold each artifact,
//! which databases run which version, and the drift between them (exit 1).

use std::io::IsTerminal;

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
}

/// Runs `rmpack status`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    let mut flags = cluster_words();
    if args.external {
        flags.push("--external".to_string());
    }
    let status = cluster_status(&client, args.external, &flags)
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
