//! `rmpack man`: a page per command, equal to `--help`. Every command is found by walking the
//! `Commands:` lists of `--help` from the top, so a subcommand added later is covered without
//! editing this file; for each one, the flags, arguments, subcommands, possible values, defaults
//! and environment variables that `--help` lists must be on its page, and the page must list no
//! flag `--help` does not.

use std::collections::BTreeSet;
use std::process::{Command, Output};

mod common;

fn rmpack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rmpack"))
        .args(args)
        // The help shows an environment variable's value when it is set; keep the texts stable.
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn stdout_of(args: &[&str]) -> String {
    let output = rmpack(args);
    assert!(output.status.success(), "rmpack {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// What `--help` of one command lists.
#[derive(Debug, Default)]
struct Help {
    subcommands: BTreeSet<String>,
    /// `--long` and `-s` spellings.
    flags: BTreeSet<String>,
    /// Positional arguments' value names.
    arguments: BTreeSet<String>,
    /// For each flag or argument: the words its description carries that the page must carry too
    /// (possible values, the default, environment variable names).
    facts: Vec<(String, String)>,
}

/// Reads clap's long help: sections `Commands:`, `Arguments:`, `Options:` (or any other heading
/// ending in `:` at column 0); items start at column 2 (or 6 for a long flag without a short one),
/// descriptions are indented further.
fn parse_help(text: &str) -> Help {
    let mut help = Help::default();
    let mut section = String::new();
    let mut current_item: Option<String> = None;
    let mut item_text = String::new();
    let flush = |item: &mut Option<String>, text: &mut String, help: &mut Help| {
        if let Some(item) = item.take() {
            for fact in facts_of(text) {
                help.facts.push((item.clone(), fact));
            }
        }
        text.clear();
    };
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            flush(&mut current_item, &mut item_text, &mut help);
            section = line.trim_end_matches(':').to_string();
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let is_item = (indent == 2 || (indent == 6 && trimmed.starts_with("--")))
            && !section.starts_with("Usage");
        if is_item {
            flush(&mut current_item, &mut item_text, &mut help);
            let head = trimmed.split("  ").next().unwrap();
            if section == "Commands" {
                let name = head.split_whitespace().next().unwrap().to_string();
                if name != "help" {
                    help.subcommands.insert(name);
                }
                continue;
            }
            let key = if trimmed.starts_with('-') {
                let flags: Vec<&str> = head
                    .split([',', ' '])
                    .filter(|word| word.starts_with('-'))
                    .collect();
                help.flags.extend(flags.iter().map(|flag| flag.to_string()));
                // The long spelling when there is one: it names the item on the page too.
                flags.last().unwrap().to_string()
            } else {
                let name = argument_name(head);
                help.arguments.insert(name.clone());
                name
            };
            current_item = Some(key);
            item_text.push_str(&trimmed[head.len()..]);
        } else if current_item.is_some() {
            item_text.push(' ');
            item_text.push_str(trimmed);
        }
    }
    flush(&mut current_item, &mut item_text, &mut help);
    help
}

/// `MODULE` from `<MODULE>`, `SUBCOMMAND` from `[SUBCOMMAND]...`.
fn argument_name(head: &str) -> String {
    head.split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches("...")
        .trim_matches(['<', '>', '[', ']'])
        .to_string()
}

/// The words of an item's head that name it: its flags, or its argument's name.
fn item_names(head: &str) -> Vec<String> {
    if head.starts_with('-') {
        head.split([',', ' '])
            .filter(|word| word.starts_with('-'))
            .map(str::to_string)
            .collect()
    } else {
        vec![argument_name(head)]
    }
}

/// The possible values, default and environment variable names in one item's help text.
fn facts_of(text: &str) -> Vec<String> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut facts = Vec::new();
    for (open, close) in [
        ("[default: ", "]"),
        ("[env: ", "]"),
        ("[possible values: ", "]"),
    ] {
        if let Some(start) = text.find(open) {
            let rest = &text[start + open.len()..];
            let inner = &rest[..rest.find(close).unwrap_or(rest.len())];
            for part in inner.split(", ") {
                // `[env: NAME=value]` when the variable is set: the name is what the page names.
                let part = part.split('=').next().unwrap().trim();
                if !part.is_empty() {
                    facts.push(part.to_string());
                }
            }
        }
    }
    // The long form of possible values: "Possible values: - human: Findings grouped …".
    if let Some(start) = text.find("Possible values:") {
        for entry in text[start..].split(" - ").skip(1) {
            if let Some(value) = entry.split(':').next() {
                facts.push(value.trim().to_string());
            }
        }
    }
    facts
}

/// The page with roff's font changes and escapes undone, as `man` shows it (without the line
/// breaking).
fn unescape_roff(page: &str) -> String {
    let mut text = page
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "")
        .replace("\\fP", "")
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\(bu", "*")
        .replace("\\&", "")
        .replace("\\e", "\\");
    while let Some(start) = text.find("\\[u") {
        let end = start + text[start..].find(']').unwrap();
        let code = u32::from_str_radix(&text[start + 3..end], 16).unwrap();
        text.replace_range(start..=end, &char::from_u32(code).unwrap().to_string());
    }
    text
}

/// What one page lists: its option items (the line after each `.TP`), its subcommands.
#[derive(Debug, Default)]
struct Page {
    flags: BTreeSet<String>,
    arguments: BTreeSet<String>,
    subcommands: BTreeSet<String>,
    /// Each item's head and the text up to the next item.
    items: Vec<(String, String)>,
}

fn parse_page(page: &str, page_name: &str) -> Page {
    let text = unescape_roff(page);
    let mut parsed = Page::default();
    let mut section = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            section = heading.trim_matches('"').to_string();
            continue;
        }
        if line != ".TP" {
            continue;
        }
        let Some(head) = lines.next() else { break };
        let mut body = String::new();
        while let Some(next) = lines.peek() {
            if *next == ".TP" || next.starts_with(".SH ") {
                break;
            }
            body.push_str(lines.next().unwrap());
            body.push(' ');
        }
        if section == "SUBCOMMANDS" {
            let name = head
                .strip_prefix(&format!("{page_name}-"))
                .and_then(|rest| rest.strip_suffix("(1)"))
                .unwrap_or_else(|| panic!("subcommand item {head:?} on {page_name}"));
            parsed.subcommands.insert(name.to_string());
            continue;
        }
        if head.starts_with('-') {
            parsed.flags.extend(item_names(head));
        } else if head.starts_with(['<', '[']) {
            parsed.arguments.extend(item_names(head));
        } else {
            continue;
        }
        parsed.items.push((head.to_string(), body));
    }
    parsed
}

/// Every command path `--help` leads to, from the top: `[]`, `["pack"]`, `["modules", "delete"]`.
fn command_paths() -> Vec<Vec<String>> {
    let mut paths = vec![Vec::new()];
    let mut next = 0;
    while next < paths.len() {
        let path = paths[next].clone();
        next += 1;
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        for sub in parse_help(&stdout_of(&args)).subcommands {
            let mut child = path.clone();
            child.push(sub);
            paths.push(child);
        }
    }
    paths
}

#[test]
fn every_page_lists_what_help_lists_and_nothing_more() {
    let paths = command_paths();
    assert!(paths.len() > 12, "{paths:?}");
    for path in &paths {
        let mut help_args: Vec<&str> = path.iter().map(String::as_str).collect();
        help_args.push("--help");
        let help = parse_help(&stdout_of(&help_args));
        let mut man_args = vec!["man"];
        man_args.extend(path.iter().map(String::as_str));
        let page_name = std::iter::once("rmpack")
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let page = parse_page(&stdout_of(&man_args), &page_name);

        assert_eq!(
            page.subcommands, help.subcommands,
            "subcommands of {page_name}"
        );
        assert_eq!(page.flags, help.flags, "flags of {page_name}");
        assert_eq!(page.arguments, help.arguments, "arguments of {page_name}");
        assert!(help.flags.contains("--help"), "{page_name}: {help:?}");
        for (item, fact) in &help.facts {
            let (head, body) = page
                .items
                .iter()
                .find(|(head, _)| item_names(head).contains(item))
                .unwrap_or_else(|| panic!("{page_name}: no item for {item}"));
            assert!(
                head.contains(fact.as_str()) || body.contains(fact.as_str()),
                "{page_name}: the page's {item} lacks {fact:?}, which --help shows: {head} {body}"
            );
        }
    }
}

#[test]
fn the_help_parser_sees_flags_values_and_subcommands() {
    // The equality test above is only as good as this reading of --help.
    let validate = parse_help(&stdout_of(&["validate", "--help"]));
    for flag in [
        "--os",
        "--format",
        "--redis-server",
        "-q",
        "--quiet",
        "-h",
        "-V",
    ] {
        assert!(validate.flags.contains(flag), "{flag}: {validate:?}");
    }
    assert!(validate.arguments.contains("PATH"), "{validate:?}");
    let facts: Vec<&str> = validate.facts.iter().map(|(_, f)| f.as_str()).collect();
    for fact in ["human", "sarif", "RMPACK_REDIS_SERVER"] {
        assert!(facts.contains(&fact), "{fact}: {facts:?}");
    }
    let modules = parse_help(&stdout_of(&["modules", "--help"]));
    let names: Vec<&str> = modules.subcommands.iter().map(String::as_str).collect();
    assert_eq!(names, ["delete", "get", "list"]);
}

#[test]
fn out_writes_a_readable_page_per_command_and_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("share/man/man1");
    let listed = stdout_of(&["man", "--out", man1.to_str().unwrap()]);
    let mut expected: Vec<String> = command_paths()
        .iter()
        .map(|path| {
            let mut name = String::from("rmpack");
            for part in path {
                name.push('-');
                name.push_str(part);
            }
            format!("{name}.1")
        })
        .collect();
    expected.sort();
    assert_eq!(common::dir_listing(&man1), expected);
    assert_eq!(listed.lines().count(), expected.len(), "{listed}");

    for name in &expected {
        let path = man1.join(name);
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o644, "{name}");
        // troff reads the page without complaint (-ww: every warning), as `man` would run it.
        let groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff (Debian's groff-base) runs");
        assert!(
            groff.status.success() && groff.stderr.is_empty(),
            "{name}: {}",
            String::from_utf8_lossy(&groff.stderr)
        );
    }
    // `man` finds the pages in the folder, as it finds ~/.local/share/man from ~/.local/bin.
    let shown = Command::new("man")
        .args(["-P", "cat", "rmpack-man"])
        .env("MANPATH", dir.path().join("share/man"))
        .env("MANWIDTH", "200")
        .output()
        .expect("man (Debian's man-db) runs");
    let shown_text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{shown:?}");
    assert!(shown_text.contains("rmpack man"), "{shown_text}");
    assert!(shown_text.contains("rmpack-pack.1, …"), "{shown_text}");

    // A second run replaces the pages in place.
    stdout_of(&["man", "--out", man1.to_str().unwrap()]);
    assert_eq!(common::dir_listing(&man1), expected);
}

#[test]
fn out_onto_a_file_is_an_error_that_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("man1");
    std::fs::write(&file, "not a folder").unwrap();
    let output = rmpack(&["man", "--out", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot create"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder");
    assert_eq!(common::dir_listing(dir.path()), ["man1"]);
}

#[test]
fn a_page_that_cannot_be_renamed_into_place_leaves_no_temp_file() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man1");
    std::fs::create_dir(&man1).unwrap();
    // A page name taken by a folder: the rename onto it fails after the temp file was written.
    std::fs::create_dir(man1.join("rmpack-pack.1")).unwrap();
    let output = rmpack(&["man", "--out", man1.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rmpack-pack.1"), "{stderr}");
    let leftovers: Vec<String> = common::dir_listing(&man1)
        .into_iter()
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_naming_the_known_ones() {
    let output = rmpack(&["man", "modules", "purge"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`rmpack modules purge` is no subcommand") && stderr.contains("delete"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn a_page_names_rmpack_and_its_version() {
    let page = stdout_of(&["man", "pack"]);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        page.contains(&format!(".TH rmpack-pack 1  \"rmpack {version}\"")),
        "{page}"
    );
}
