//! `rmpack completions bash|zsh|fish`: the shell completion script, generated from the same clap
//! definitions the parser uses, so it always knows every subcommand and flag.

use clap::CommandFactory;

use super::Status;

/// The shells completions are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// Bash: `source <(rmpack completions bash)`.
    Bash,
    /// Zsh: write it as `_rmpack` into a folder on `$fpath`.
    Zsh,
    /// Fish: write it to `~/.config/fish/completions/rmpack.fish`.
    Fish,
}

/// Arguments of `rmpack completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `args.shell` to standard output.
pub fn run(args: Args) -> anyhow::Result<Status> {
    print!("{}", script(args.shell));
    Ok(Status::Success)
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut command, "rmpack", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_the_subcommands_and_their_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = script(shell);
            // Fish spells long options `-l name`, the others `--name`.
            for word in ["pack", "validate", "upload", "redis-server", "load-timeout"] {
                assert!(text.contains(word), "{shell:?} script lacks {word}");
            }
        }
        assert!(script(Shell::Bash).contains("complete -F"));
        assert!(script(Shell::Zsh).starts_with("#compdef rmpack"));
        assert!(script(Shell::Fish).contains("complete -c rmpack"));
    }
}
