//! `rmpack inspect`: show what a module zip or .so holds.

use std::path::PathBuf;

use anyhow::Context;
use rmpack::bundle::{Bundle, Source};
use rmpack::elf::ElfFacts;
use rmpack::report::{sanitize, shown, table, Shown};
use rmpack::validate::{self, CheckOptions};
use serde_json::{json, Value};

use super::Status;

/// Arguments of `rmpack inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A module zip, a .so, a module.json or a folder holding them.
    pub path: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `rmpack inspect`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let bundle = validate::open(&args.path, &CheckOptions::default())
        .with_context(|| format!("cannot inspect {}", args.path.display()))?;
    let elf = bundle.module.as_ref().map(|m| ElfFacts::read(&m.bytes));
    if args.json {
        print!(
            "{}",
            rmpack::report::json_pretty(&as_json(&bundle, elf.as_ref()))
        );
    } else {
        print!("{}", as_text(&bundle, elf.as_ref()));
    }
    Ok(Status::Success)
}

/// What module.json records for the `.so`, and whether the bytes match.
fn checksum_verdict(bundle: &Bundle) -> (Option<String>, Option<bool>) {
    let recorded = bundle
        .manifest_value()
        .and_then(|v| v.get("sha256"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let matches = match (&recorded, &bundle.module) {
        (Some(r), Some(m)) => Some(r.eq_ignore_ascii_case(&m.sha256)),
        _ => None,
    };
    (recorded, matches)
}

fn as_json(bundle: &Bundle, elf: Option<&Result<ElfFacts, rmpack::elf::ElfError>>) -> Value {
    let (recorded, matches) = checksum_verdict(bundle);
    json!({
        "path": bundle.path.display().to_string(),
        "source": bundle.source,
        "entries": bundle.entries,
        "module_json": match &bundle.module_json_value {
            Some(Ok(v)) => v.clone(),
            Some(Err(e)) => json!({"error": e}),
            None => Value::Null,
        },
        "module": bundle.module.as_ref().map(|m| json!({
            "name": m.name,
            "size": m.bytes.len(),
            "sha256": m.sha256,
            "recorded_sha256": recorded,
            "sha256_matches": matches,
            "unix_mode": m.unix_mode.map(|mode| format!("{mode:04o}")),
        })),
        "elf": match elf {
            Some(Ok(facts)) => serde_json::to_value(facts).unwrap_or(Value::Null),
            Some(Err(e)) => json!({"error": e.to_string()}),
            None => Value::Null,
        },
        "dependencies": bundle.deps,
    })
}

fn as_text(bundle: &Bundle, elf: Option<&Result<ElfFacts, rmpack::elf::ElfError>>) -> String {
    let mut out = String::new();
    // Every string from the zip, module.json or the ELF file goes through `sanitize`: it may hold
    // escape sequences meant to rewrite the terminal.
    out.push_str(&format!("{}\n", shown(bundle.path.display())));
    if bundle.source == Source::Zip {
        let rows: Vec<Vec<String>> = bundle
            .entries
            .iter()
            .map(|e| {
                vec![
                    sanitize(&e.name).into_owned(),
                    format!("{:?}", e.kind).to_lowercase(),
                    e.size.to_string(),
                    e.compressed_size.to_string(),
                    e.unix_mode
                        .map(|m| format!("{m:04o}"))
                        .unwrap_or_else(|| "-".into()),
                    sanitize(&e.compression).into_owned(),
                ]
            })
            .collect();
        out.push_str("\nentries\n");
        out.push_str(&table(
            &["name", "kind", "size", "compressed", "mode", "method"],
            &rows,
        ));
    }
    match &bundle.module_json_value {
        Some(Ok(Value::Object(map))) => {
            out.push_str("\nmodule.json\n");
            for key in [
                "module_name",
                "display_name",
                "version",
                "semantic_version",
                "architecture",
                "os",
                "operating_systems",
                "min_redis_version",
                "min_redis_pack_version",
                "compatible_redis_version",
                "capabilities",
                "command_line_args",
                "module_file",
                "sha256",
                "dependencies",
            ] {
                if let Some(value) = map.get(key) {
                    out.push_str(&format!("  {key:<26} {}\n", compact(value)));
                }
            }
            if let Some(Value::Array(commands)) = map.get("commands") {
                let rows: Vec<Vec<String>> = commands
                    .iter()
                    .map(|c| {
                        let field = |k: &str| c.get(k).map(compact).unwrap_or_default();
                        let flags = c
                            .get("flags")
                            .and_then(Value::as_array)
                            .map(|f| {
                                f.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            })
                            .unwrap_or_default();
                        let flags = sanitize(&flags).into_owned();
                        vec![
                            sanitize(c.get("command_name").and_then(Value::as_str).unwrap_or("?"))
                                .into_owned(),
                            field("command_arity"),
                            flags,
                            field("first_key"),
                            field("last_key"),
                            field("step"),
                        ]
                    })
                    .collect();
                out.push_str(&format!("\ncommands ({})\n", rows.len()));
                out.push_str(&table(
                    &["name", "arity", "flags", "first", "last", "step"],
                    &rows,
                ));
            }
        }
        Some(Ok(_)) => out.push_str("\nmodule.json is not a JSON object\n"),
        Some(Err(e)) => out.push_str(&format!("\nmodule.json is not valid JSON: {}\n", Shown(e))),
        None => {}
    }
    if let Some(module) = &bundle.module {
        out.push_str(&format!("\nmodule {}\n", Shown(&module.name)));
        out.push_str(&format!("  size    {} bytes\n", module.bytes.len()));
        out.push_str(&format!("  sha256  {}\n", module.sha256));
        let (recorded, matches) = checksum_verdict(bundle);
        match (recorded, matches) {
            (Some(_), Some(true)) => out.push_str("  matches the sha256 module.json records\n"),
            (Some(r), _) => out.push_str(&format!(
                "  DOES NOT MATCH the sha256 module.json records ({})\n",
                Shown(&r)
            )),
            (None, _) if bundle.module_json_raw.is_some() => {
                out.push_str("  module.json records no sha256\n")
            }
            _ => {}
        }
        if let Some(mode) = module.unix_mode {
            out.push_str(&format!("  mode    {mode:04o}\n"));
        }
    }
    match elf {
        Some(Ok(facts)) => {
            out.push_str("\nELF\n");
            out.push_str(&format!(
                "  architecture  {}\n",
                facts.describe_architecture()
            ));
            out.push_str(&format!(
                "  class         {}, {}\n",
                facts.class, facts.endianness
            ));
            out.push_str(&format!("  type          {}\n", facts.file_type));
            out.push_str(&format!("  OS/ABI        {}\n", facts.os_abi));
            out.push_str(&format!(
                "  OnLoad        {}\n",
                if facts.has_redis_module_onload {
                    "RedisModule_OnLoad exported"
                } else {
                    "RedisModule_OnLoad MISSING"
                }
            ));
            out.push_str(&format!(
                "  NEEDED        {}\n",
                Shown(&facts.needed.join(", "))
            ));
            for (label, need) in [
                ("glibc", facts.max_glibc()),
                ("libstdc++", facts.max_glibcxx()),
                ("OpenSSL", facts.max_openssl()),
            ] {
                if let Some(need) = need {
                    out.push_str(&format!(
                        "  max {label:<9} {} ({})\n",
                        Shown(&need.name),
                        Shown(&need.symbols.join(", "))
                    ));
                }
            }
        }
        Some(Err(e)) => out.push_str(&format!("\nELF: {}\n", shown(e))),
        None => {}
    }
    if !bundle.deps.is_empty() {
        let rows: Vec<Vec<String>> = bundle
            .deps
            .iter()
            .map(|d| {
                vec![
                    sanitize(&d.name).into_owned(),
                    d.size.to_string(),
                    d.sha256.clone(),
                ]
            })
            .collect();
        out.push_str("\ndependencies\n");
        out.push_str(&table(&["name", "size", "sha256"], &rows));
    }
    out
}

/// A module.json value for the terminal: a string as it is, anything else as JSON; either way
/// with control characters escaped.
fn compact(value: &Value) -> String {
    match value {
        Value::String(s) => sanitize(s).into_owned(),
        other => sanitize(&other.to_string()).into_owned(),
    }
}
