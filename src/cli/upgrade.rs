//! `rmpack upgrade`.

use super::Status;

/// Arguments of `rmpack upgrade`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack upgrade`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack upgrade is not available in this build")
}
