//! `rmpack man [SUBCOMMAND…] [--out DIR]`: the manual pages (roff), rendered by clap_mangen from the
//! same clap definitions the parser and `--help` use, so a page cannot drift from `--help`.
//!
//! One page per command, as git and cargo do: `rmpack.1` lists the subcommands, and
//! `rmpack-pack.1`, `rmpack-modules-delete.1`, … hold each one's arguments and flags.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

use super::Status;

/// The manual section the pages belong to: user commands.
const SECTION: &str = "1";

/// Arguments of `rmpack man`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The subcommand whose page to print, e.g. `pack` or `modules delete`; none prints rmpack(1).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Vec<String>,
    /// Write every page (rmpack.1, rmpack-pack.1, …) into this folder, created when missing,
    /// instead of printing one; e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
    pub out: Option<PathBuf>,
}

/// Prints one page, or writes them all with `--out`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    match args.out {
        Some(dir) => {
            for path in write_pages(&dir)? {
                println!("{}", path.display());
            }
        }
        None => {
            let root = built_command();
            let command = find(&root, &args.subcommand)?;
            std::io::stdout()
                .write_all(&render(command))
                .context("cannot write the manual page to standard output")?;
        }
    }
    Ok(Status::Success)
}

/// rmpack's clap command, built (so each subcommand knows its full name, `rmpack-modules-delete`,
/// and its usage line, `rmpack modules delete`), without the `help` subcommand, which needs no page.
fn built_command() -> clap::Command {
    let mut command = super::Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The subcommand that `path` names (`["modules", "delete"]`), or the root for an empty path.
fn find<'a>(root: &'a clap::Command, path: &[String]) -> anyhow::Result<&'a clap::Command> {
    let mut command = root;
    for name in path {
        command = command.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = visible_subcommands(command).map(|c| c.get_name()).collect();
            let parent = path_text(command);
            if known.is_empty() {
                anyhow::anyhow!("`{parent} {name}` is no subcommand: `{parent}` has none")
            } else {
                anyhow::anyhow!(
                    "`{parent} {name}` is no subcommand; those of `{parent}` are: {}",
                    known.join(", ")
                )
            }
        })?;
    }
    Ok(command)
}

fn path_text(command: &clap::Command) -> &str {
    command.get_bin_name().unwrap_or(command.get_name())
}

fn visible_subcommands(command: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    command.get_subcommands().filter(|c| !c.is_hide_set())
}

/// The roff text of `command`'s page.
fn render(command: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command.clone())
        .section(SECTION)
        .source(concat!("rmpack ", env!("CARGO_PKG_VERSION")))
        .manual("rmpack manual")
        .render(&mut out)
        .expect("rendering into memory does not fail");
    ascii_only(&String::from_utf8_lossy(&out)).into_bytes()
}

/// `text` with every character outside ASCII (`…`, `→` in the help texts) spelt as a roff
/// escape, `\[u2026]`: troff reads bytes, and only some `man` front ends convert UTF-8 first.
fn ascii_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\[u{:04X}]", u32::from(c)));
        }
    }
    out
}

/// Every page as (file name, roff text): rmpack.1 first, then each subcommand's, depth first.
fn pages() -> Vec<(String, Vec<u8>)> {
    fn collect(command: &clap::Command, into: &mut Vec<(String, Vec<u8>)>) {
        let name = command
            .get_display_name()
            .unwrap_or(command.get_name())
            .to_string();
        into.push((format!("{name}.{SECTION}"), render(command)));
        for sub in visible_subcommands(command) {
            collect(sub, into);
        }
    }
    let mut pages = Vec::new();
    collect(&built_command(), &mut pages);
    pages
}

/// Writes every page into `dir` (created when missing), each to a temp file beside its final name
/// and renamed into place, so an interrupted run leaves no half page. Returns the paths written.
fn write_pages(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in pages() {
        let path = dir.join(&name);
        write_atomically(dir, &path, &text)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

fn write_atomically(dir: &Path, path: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut temp = tempfile::Builder::new()
        .prefix(".rmpack-man-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let _on_interrupt = rmpack::interrupt::remove_on_interrupt(temp.path());
    temp.write_all(text)?;
    // Pages are read by `man` as any user, as the ones a package installs are.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    temp.persist(path).map_err(|error| error.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_subcommand_gets_a_page_named_after_its_path() {
        let names: Vec<String> = pages().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names[0], "rmpack.1");
        for expected in ["rmpack-pack.1", "rmpack-man.1", "rmpack-modules-delete.1"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
    }

    #[test]
    fn a_subcommand_page_has_its_usage_line_and_title() {
        let root = built_command();
        let page = render(find(&root, &["modules".into(), "delete".into()]).unwrap());
        let text = String::from_utf8(page).unwrap();
        assert!(text.contains("\n.TH rmpack-modules-delete 1 "), "{text}");
        assert!(text.contains("\\fBrmpack modules delete\\fR"), "{text}");
    }

    #[test]
    fn an_unknown_subcommand_names_the_known_ones() {
        let root = built_command();
        let error = find(&root, &["modules".into(), "purge".into()]).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("`rmpack modules purge` is no subcommand"),
            "{text}"
        );
        assert!(text.contains("delete"), "{text}");
        let leaf = find(&root, &["pack".into(), "x".into()]).unwrap_err();
        assert!(
            leaf.to_string().contains("`rmpack pack` has none"),
            "{leaf}"
        );
    }

    #[test]
    fn characters_outside_ascii_become_roff_escapes() {
        assert_eq!(ascii_only("a … b → c"), "a \\[u2026] b \\[u2192] c");
        assert_eq!(ascii_only("\u{1F600}"), "\\[u1F600]");
    }
}
