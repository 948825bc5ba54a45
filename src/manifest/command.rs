//! Module commands as `module.json` lists them, and the edits RAMP lets a manifest make to them.

use serde::{Deserialize, Serialize};

/// One module command, as `COMMAND INFO` reports it and RS reads it from `module.json`.
///
/// The first six fields are the ones RS reads. `acl_categories`, `key_specs` and `subcommands`
/// carry what Redis 7 reports beyond them; they are written only when present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// The command name as the module registers it (`json.get`, `FT.SEARCH`); a subcommand is
    /// `parent|sub`. Redis matches names case-insensitively, and so do the command edits.
    pub command_name: String,
    /// Arity as Redis reports it: positive for an exact count, negative for "at least".
    #[serde(default)]
    pub command_arity: i64,
    /// Command flags (`write`, `readonly`, `denyoom`, …), sorted.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Position of the first key argument, 0 when the command takes no keys.
    #[serde(default)]
    pub first_key: i64,
    /// Position of the last key argument; negative counts from the end.
    #[serde(default)]
    pub last_key: i64,
    /// Step between key arguments.
    #[serde(default)]
    pub step: i64,
    /// ACL categories (`@write`, `@module`, …), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_categories: Vec<String>,
    /// Key specifications as Redis 7 reports them (order matters: kept as reported).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_specs: Vec<serde_json::Value>,
    /// Subcommands (`parent|sub`), sorted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subcommands: Vec<Command>,
}

impl Command {
    /// A command with the given name and arity and no keys.
    pub fn new(name: impl Into<String>, arity: i64) -> Self {
        Command {
            command_name: name.into(),
            command_arity: arity,
            flags: Vec::new(),
            first_key: 0,
            last_key: 0,
            step: 0,
            acl_categories: Vec::new(),
            key_specs: Vec::new(),
            subcommands: Vec::new(),
        }
    }

    /// Sorts flags, categories and subcommands so the same facts always serialize the same way;
    /// names are kept as they are.
    pub fn normalize(&mut self) {
        self.flags.sort();
        self.flags.dedup();
        self.acl_categories.sort();
        self.acl_categories.dedup();
        for sub in &mut self.subcommands {
            sub.normalize();
        }
        self.subcommands
            .sort_by(|a, b| a.command_name.cmp(&b.command_name));
    }
}

/// Applies RAMP's command edits: drop `exclude` names, replace commands named in `overrides`
/// (matched by `command_name`), append `additions` that are not already present.
/// Names compare case-insensitively. The result is sorted by name.
pub fn apply_command_edits(
    discovered: Vec<Command>,
    exclude: &[String],
    overrides: &[Command],
    additions: &[Command],
) -> Vec<Command> {
    let excluded = |name: &str| exclude.iter().any(|e| e.eq_ignore_ascii_case(name));
    let mut commands: Vec<Command> = discovered
        .into_iter()
        .filter(|c| !excluded(&c.command_name))
        .map(|c| {
            overrides
                .iter()
                .find(|o| o.command_name.eq_ignore_ascii_case(&c.command_name))
                .cloned()
                .unwrap_or(c)
        })
        .collect();
    for added in additions {
        if !commands
            .iter()
            .any(|c| c.command_name.eq_ignore_ascii_case(&added.command_name))
        {
            commands.push(added.clone());
        }
    }
    for command in &mut commands {
        command.normalize();
    }
    commands.sort_by(|a, b| a.command_name.cmp(&b.command_name));
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_exclude_override_and_add() {
        let discovered = vec![
            Command::new("b.get", 2),
            Command::new("a.set", 3),
            Command::new("c.del", -2),
        ];
        let mut replaced = Command::new("A.SET", 4);
        replaced.flags = vec!["write".into(), "denyoom".into()];
        let result = apply_command_edits(
            discovered,
            &["c.del".into()],
            &[replaced],
            &[Command::new("z.new", 1), Command::new("b.get", 9)],
        );
        let names: Vec<_> = result.iter().map(|c| c.command_name.as_str()).collect();
        assert_eq!(
            names,
            ["A.SET", "b.get", "z.new"],
            "matched case-insensitively, the override's name kept as written"
        );
        assert_eq!(result[0].command_arity, 4);
        assert_eq!(result[0].flags, ["denyoom", "write"]);
        assert_eq!(
            result[1].command_arity, 2,
            "an addition never replaces a discovered command"
        );
    }
}
