//! `rmpack inspect`: show what a module zip or .so holds.

use std::path::PathBuf;

use anyhow::Context;
use rmpack::report;
use rmpack::validate::{self, CheckOptions};

use super::Status;

/// Arguments of `rmpack inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A module zip, a .so, a module.json or a folder holding them.
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rmpack inspect`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let bundle = validate::open(&args.path, &CheckOptions::default())
        .with_context(|| format!("cannot inspect {}", args.path.display()))?;
    let elf = bundle.module_elf();
    if args.json {
        print!(
            "{}",
            report::json_pretty(&report::inspect_json(&bundle, elf.as_ref()))
        );
    } else {
        print!("{}", report::inspect_human(&bundle, elf.as_ref()));
    }
    Ok(Status::Success)
}
