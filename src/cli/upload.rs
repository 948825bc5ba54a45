//! `rmpack upload`: register a module and put its zip on every node (or upload it bundled).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rmpack::bundle::Bundle;
use rmpack::cluster::PollOptions;
use rmpack::report;
use rmpack::rollout::{self, Rollout, RolloutError, UploadFlow, UploadOptions};

use super::connection::{plain_uid, rollout_failure, ClusterArgs};
use super::{CheckFailed, Status};

/// Arguments of `rmpack upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module zip (from `rmpack pack`).
    zip: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Only these nodes (uids, comma separated), e.g. to resume a partial rollout.
    #[arg(long, value_delimiter = ',', value_name = "UIDS", value_parser = plain_uid)]
    nodes: Option<Vec<String>>,
    /// Reach nodes by their external_addr instead of addr.
    #[arg(long)]
    external: bool,
    /// Uploads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Print the plan (requests, nodes, bytes) and stop; only GET requests are sent.
    #[arg(long)]
    dry_run: bool,
    /// When a node fails, delete what this run uploaded and registered.
    #[arg(long)]
    rollback_on_failure: bool,
    /// Force the bundled (RAMP-style) upload: POST /v2/modules once, followed to its end
    /// (the default before RS 8.0).
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
    let client = args.cluster.connect(listener.clone())?;
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
    };
    let plan = {
        // The zip is read once; the bundle goes as soon as the plan holds what it needs.
        let bundle = Bundle::read(&args.zip)
            .with_context(|| format!("cannot read module zip {}", args.zip.display()))?;
        rollout::plan_upload(&client, &bundle, &options)
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(RolloutError::Preflight { source_url, report }) => {
            let style = report::Style {
                color: std::io::stderr().is_terminal(),
            };
            eprint!("{}", report::human(&report, style));
            return Err(anyhow::Error::new(CheckFailed(format!(
                "pre-flight check against {source_url} failed; nothing was sent to the cluster"
            ))));
        }
        Err(error) => return Err(rollout_failure(error, "upload refused")),
    };
    let rollout = if args.dry_run {
        plan.as_rollout()
    } else {
        plan.execute(&client)
            .map_err(|e| rollout_failure(e, "upload failed"))?
    };
    let resume = if rollout.rolled_back {
        None
    } else {
        resume_command(&rollout)
    };
    if args.cluster.json {
        let mut value = serde_json::to_value(&rollout).context("cannot render the rollout")?;
        if let Some(object) = value.as_object_mut() {
            object.insert("complete".into(), rollout.is_complete().into());
            object.insert("changed".into(), rollout.changed_anything().into());
            object.insert(
                "resume_command".into(),
                resume.clone().map_or(serde_json::Value::Null, Into::into),
            );
        }
        print!("{}", report::json_pretty(&value));
    } else {
        let style = report::Style {
            color: std::io::stdout().is_terminal(),
        };
        print!("{}", report::rollout(&rollout, resume.as_deref(), style));
    }
    Ok(if rollout.is_complete() && !rollout.rolled_back {
        Status::Success
    } else {
        Status::Failure
    })
}

/// The command that finishes a partial rollout: this command line with `--nodes` of the nodes
/// still missing the artifact (never the password: it comes from the environment or a prompt).
fn resume_command(rollout: &Rollout) -> Option<String> {
    let missing = rollout.unfinished_nodes();
    if missing.is_empty() || rollout.bundled || rollout.dry_run {
        return None;
    }
    let mut words: Vec<String> = Vec::new();
    // args_os: a zip path need not be UTF-8.
    let mut args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--nodes" || arg == "--password" {
            args.next();
            continue;
        }
        if arg.starts_with("--nodes=") || arg.starts_with("--password=") {
            continue;
        }
        if arg == "--rollback-on-failure" || arg == "--json" {
            continue;
        }
        words.push(arg);
    }
    words.extend(["--nodes".to_string(), missing.join(",")]);
    Some(rmpack::text::command_line(
        std::iter::once("rmpack".to_string()).chain(words),
    ))
}
