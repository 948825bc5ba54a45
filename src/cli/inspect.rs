//! `rmpack inspect`.

use super::Status;

/// Arguments of `rmpack inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack inspect`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack inspect is not available in this build")
}
