//! The `rmpack` command: parse the arguments, run the subcommand, print the error's cause chain,
//! exit with 0 (ok), 1 (a check failed or a rollout was partial) or 2 (usage or I/O error).

use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    // Before anything creates temp files or child processes, so an interruption undoes them.
    if let Err(error) = rmpack::interrupt::install() {
        eprintln!("warning: cannot handle interruptions ({error}); temp files may stay behind");
    }
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(status) => status.exit_code(),
        Err(error) => {
            // Causes quote zips, modules and servers: shown with control characters escaped.
            eprintln!("error: {}", rmpack::report::shown(&error));
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {}", rmpack::report::shown(cause));
            }
            cli::exit_code_for(&error)
        }
    }
}
