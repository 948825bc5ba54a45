//! `rmpack diff OLD NEW`: what an upgrade from one release to the next adds, removes and breaks.

use std::path::PathBuf;

use anyhow::Context;
use rmpack::diff;
use rmpack::report;

use super::ui::stdout_style;
use super::Status;

/// Arguments of `rmpack diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release upgraded from: a module zip, a module.json, or a folder holding module.json.
    pub old: PathBuf,
    /// The release upgraded to.
    pub new: PathBuf,
    /// Print JSON (schema/diff.schema.json) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when anything breaking is found (a removed command, subcommand, capability or
    /// operating system, a changed architecture or module name).
    #[arg(long)]
    pub fail_on_breaking: bool,
}

/// Runs `rmpack diff`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let diff = diff::diff_paths(&args.old, &args.new).with_context(|| {
        format!(
            "cannot compare {} with {}",
            report::shown(args.old.display()),
            report::shown(args.new.display())
        )
    })?;
    if args.json {
        print!("{}", report::json_pretty(&report::diff_json(&diff)));
    } else {
        print!("{}", report::diff_human(&diff, stdout_style()));
    }
    Ok(if args.fail_on_breaking && diff.is_breaking() {
        Status::Failure
    } else {
        Status::Success
    })
}
