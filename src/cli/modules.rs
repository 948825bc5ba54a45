//! `rmpack modules`.

use super::Status;

/// Arguments of `rmpack modules`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack modules`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack modules is not available in this build")
}
