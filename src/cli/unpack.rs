//! `rmpack unpack`: extract a module zip safely, verifying checksums.

use std::path::PathBuf;

use anyhow::Context;
use rmpack::bundle::{self, Limits};
use rmpack::report::{shown, Shown};

use super::Status;

/// Arguments of `rmpack unpack`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module zip.
    pub zip: PathBuf,
    /// The folder to extract into (created if missing; must not already hold the zip's files).
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: PathBuf,
    /// Cap on the bytes the zip (and its dependency archives) may inflate to.
    #[arg(long, value_name = "BYTES", default_value_t = bundle::DEFAULT_MAX_TOTAL_SIZE)]
    pub max_size: u64,
}

/// Runs `rmpack unpack`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let limits = Limits {
        max_total_size: args.max_size,
        ..Limits::default()
    };
    let unpacked = bundle::unpack(&args.zip, &args.dir, limits).with_context(|| {
        format!(
            "refusing to unpack {} into {}; nothing was written",
            args.zip.display(),
            args.dir.display()
        )
    })?;
    for leftover in &unpacked.removed_leftovers {
        eprintln!(
            "removed {}, left by an interrupted unpack",
            shown(leftover.display())
        );
    }
    // Names and paths come from the zip: shown with control characters escaped.
    println!(
        "unpacked {} {} ({}) into {}",
        Shown(&unpacked.module_json.module_name),
        Shown(&unpacked.module_json.semantic_version),
        shown(unpacked.module.display()),
        shown(unpacked.dir.display())
    );
    println!("  sha256 of the .so verified against module.json");
    for (tarball, folder) in &unpacked.dependencies {
        println!(
            "  dependency {} verified and extracted to {}",
            shown(tarball.display()),
            shown(folder.display())
        );
    }
    Ok(Status::Success)
}
