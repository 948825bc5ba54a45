//! Command-line definitions: one file per subcommand.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod artifacts;
pub mod bootstrap_config;
pub mod completions;
pub mod connection;
pub mod diff;
pub mod inspect;
pub mod man;
pub mod modules;
pub mod pack;
pub mod status;
pub mod ui;
pub mod unpack;
pub mod upgrade;
pub mod upload;
pub mod validate;

/// Pack, validate and roll out Redis modules for Redis Enterprise Software.
#[derive(Debug, Parser)]
#[command(name = "rmpack", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a module zip from a .so, a manifest and discovered commands.
    Pack(pack::Args),
    /// Show the module.json, ELF facts, commands and hashes of a zip or .so.
    Inspect(inspect::Args),
    /// Extract a module zip safely, verifying checksums.
    Unpack(unpack::Args),
    /// Check a .so, module.json, zip or folder against RS's rules before upload.
    Validate(validate::Args),
    /// Register a module with a cluster and push its artifact to every node.
    Upload(upload::Args),
    /// List, show or delete modules registered with a cluster.
    Modules(modules::Args),
    /// List or delete the module artifacts stored on each node.
    Artifacts(artifacts::Args),
    /// Upgrade a module on databases (keeping their Redis version), reading each back.
    Upgrade(upgrade::Args),
    /// Print the shell completion script (bash, zsh or fish).
    Completions(completions::Args),
    /// Compare two releases: commands, capabilities, requirements and platforms that changed.
    Diff(diff::Args),
    /// Show which module versions, artifacts and databases a cluster holds, and the drift.
    Status(status::Args),
    /// Write the list of a release's zips that new nodes download themselves: RS bootstrap's
    /// user_defined_modules (JSON) or the Kubernetes REC's userDefinedModules (YAML).
    BootstrapConfig(bootstrap_config::Args),
    /// Print the manual page of rmpack or of a subcommand (roff), or write them all with --out.
    Man(man::Args),
}

/// How a subcommand that ran to its end came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything succeeded: exit 0.
    Success,
    /// A check failed or a rollout was partial: exit 1.
    Failure,
    /// A signal stopped the run, which reported first: exit 128 + the signal.
    Interrupted(i32),
}

impl Status {
    /// The process exit code for this status.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Status::Success => ExitCode::SUCCESS,
            Status::Failure => ExitCode::from(1),
            Status::Interrupted(signal) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        }
    }

    /// How a rollout came out: interrupted (by the signal that stopped it), complete, or not.
    pub fn of(outcome: &rmpack::rollout::Outcome) -> Status {
        match rmpack::interrupt::stop_signal() {
            Some(signal) if outcome.interrupted => Status::Interrupted(signal),
            _ if outcome.is_complete() => Status::Success,
            _ => Status::Failure,
        }
    }

    /// How a fleet rollout came out, the same way.
    pub fn of_fleet(outcome: &rmpack::rollout::fleet::FleetOutcome) -> Status {
        match rmpack::interrupt::stop_signal() {
            Some(signal) if outcome.interrupted => Status::Interrupted(signal),
            _ if outcome.is_complete() => Status::Success,
            _ => Status::Failure,
        }
    }
}

/// An error that means "the check failed" (exit 1) rather than "bad usage or input" (exit 2).
/// Return it as the error (`anyhow::Error::new(CheckFailed(..))`) or attach it with
/// `.context(CheckFailed(..))`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckFailed(pub String);

/// Exit 1 when the error chain holds a [`CheckFailed`] (as its root or as a context), else 2.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    // `downcast_ref` also finds a context value, which `chain()` shows only as text.
    if error.downcast_ref::<CheckFailed>().is_some()
        || error.chain().any(|cause| cause.is::<CheckFailed>())
    {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    match cli.command {
        Command::Pack(args) => pack::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Unpack(args) => unpack::run(args),
        Command::Validate(args) => validate::run(args),
        Command::Upload(args) => upload::run(args),
        Command::Modules(args) => modules::run(args),
        Command::Artifacts(args) => artifacts::run(args),
        Command::Upgrade(args) => upgrade::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Status(args) => status::run(args),
        Command::BootstrapConfig(args) => bootstrap_config::run(args),
        Command::Man(args) => man::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_failures_exit_1_whether_root_or_context() {
        let root = anyhow::Error::new(CheckFailed("rollout partial".into()));
        assert_eq!(exit_code_for(&root), ExitCode::from(1));
        let context = anyhow::Error::new(std::io::Error::other("node 2 refused"))
            .context(CheckFailed("rollout partial".into()));
        assert_eq!(exit_code_for(&context), ExitCode::from(1));
        let io = anyhow::Error::new(std::io::Error::other("no such file"));
        assert_eq!(exit_code_for(&io), ExitCode::from(2));
    }
}
