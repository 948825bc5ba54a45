//! `rmpack unpack`.

use super::Status;

/// Arguments of `rmpack unpack`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `rmpack unpack`.
pub fn run(_args: Args) -> anyhow::Result<Status> {
    anyhow::bail!("rmpack unpack is not available in this build")
}
