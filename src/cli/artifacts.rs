//! `rmpack artifacts`.

use super::Status;

/// Arguments of `rmpack artifacts`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack artifacts`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack artifacts is not available in this build")
}
