//! `rmpack pack`.

use super::Status;

/// Arguments of `rmpack pack`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack pack`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack pack is not available in this build")
}
