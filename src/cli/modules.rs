//! `rmpack modules`: list, show or delete the modules registered with a cluster.

use std::time::Duration;

use rmpack::cluster::PollOptions;
use rmpack::report;
use rmpack::rollout::{plan_delete, DeleteOptions, DeleteTarget, ResumeBase};

use super::connection::{
    cluster_failure, cluster_words, plain_uid, report_outcome, rollout_failure, ClusterArgs,
};
use super::{CheckFailed, Status};

/// Arguments of `rmpack modules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ModulesCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ModulesCommand {
    /// List every module the cluster stores (GET /v1/modules).
    List,
    /// Show one module as the cluster stores it (GET /v1/modules/UID).
    Get {
        /// The module's uid.
        #[arg(value_parser = plain_uid)]
        uid: String,
    },
    /// Delete a module (DELETE /v2/modules/UID, followed to its end), reading it back.
    Delete {
        /// The module's uid.
        #[arg(value_parser = plain_uid)]
        uid: String,
        /// A user-defined module: DELETE /v2/modules/user-defined/UID.
        #[arg(long)]
        user_defined: bool,
        /// With --user-defined: also delete its artifact from every node.
        #[arg(long, requires = "user_defined")]
        with_artifacts: bool,
        /// Delete even when databases run this version (RS answers 406 module_in_use).
        #[arg(long)]
        force: bool,
        /// Print the plan (the configuration, which nodes hold the artifact, the requests) and
        /// stop; only GET requests are sent.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `rmpack modules`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    match args.command {
        ModulesCommand::List => {
            let modules = client
                .modules()
                .map_err(|e| cluster_failure(e, "cannot list modules"))?;
            if args.cluster.json {
                print!("{}", report::json_pretty(&modules));
            } else {
                print!("{}", report::modules_table(&modules));
            }
            Ok(Status::Success)
        }
        ModulesCommand::Get { uid } => {
            let module = client
                .module_raw(&uid)
                .map_err(|e| cluster_failure(e, "cannot show the module"))?;
            if let Some(answer) = rmpack::cluster::not_a_module(&module) {
                return Err(anyhow::Error::new(CheckFailed(format!(
                    "the cluster answered GET /v1/modules/{uid} without a module ({answer}); it holds no module {uid}"
                ))));
            }
            print!("{}", report::json_pretty(&module));
            Ok(Status::Success)
        }
        ModulesCommand::Delete {
            uid,
            user_defined,
            with_artifacts,
            force,
            dry_run,
        } => {
            let options = DeleteOptions {
                force,
                poll: PollOptions::default(),
                busy_timeout: Duration::from_secs(args.cluster.busy_timeout),
                resume: ResumeBase::from_args(
                    std::env::args_os().map(|a| a.to_string_lossy().into_owned()),
                    2,
                    &[],
                    &["--json", "--dry-run"],
                ),
                connection: cluster_words(),
                ..DeleteOptions::default()
            };
            let target = DeleteTarget::Module {
                uid,
                user_defined,
                with_artifacts,
            };
            let plan = plan_delete(&client, &target, &options)
                .map_err(|e| rollout_failure(e, "delete refused"))?;
            let outcome = if dry_run {
                plan.as_outcome()
            } else {
                let _deferred = rmpack::interrupt::defer_stop();
                plan.execute(&client, &rmpack::interrupt::stop_requested)
            };
            Ok(report_outcome(&outcome, args.cluster.json))
        }
    }
}
