//! `rmpack validate`.

use super::Status;

/// Arguments of `rmpack validate`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack validate`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack validate is not available in this build")
}
