//! `rmpack upload`.

use super::Status;

/// Arguments of `rmpack upload`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack upload`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack upload is not available in this build")
}
