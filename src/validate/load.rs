//! The load check (`rmpack validate --load`): load the module, with its `command_line_args`, into
//! a throw-away redis-server — the guard discovery uses — and turn what stops it into findings: a
//! library this machine lacks, a Redis version the module refuses, a crash or a hang at load, and,
//! when it loads, commands module.json lists but the module does not register (or the reverse).
//!
//! A module of another architecture than this machine cannot be loaded here; it gets an info
//! saying the check was skipped. A redis-server that cannot be found or started is not a finding
//! about the module: it is returned as an error (exit 2), like any other unusable input.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::time::Duration;

use super::diagnostic::Diagnostic;
use super::rules::*;
use crate::bundle::Bundle;
use crate::discover::{self, DiscoverError, RedisServer};
use crate::elf::ElfFacts;
use crate::interrupt;

/// How the load check finds and waits for redis-server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// The `redis-server` binary; when `None`, `RMPACK_REDIS_SERVER` and then `PATH` are searched.
    pub redis_server: Option<PathBuf>,
    /// Bound on the server start and on the load itself (a module hanging in OnLoad).
    pub timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            redis_server: None,
            timeout: discover::DEFAULT_TIMEOUT,
        }
    }
}

/// Why the load check could not run at all (not a finding about the module).
#[derive(Debug, thiserror::Error)]
pub enum LoadCheckError {
    /// redis-server is missing, does not start, or the connection failed.
    #[error("the load check could not run")]
    Server(#[source] DiscoverError),
    /// The module could not be written to a temporary file for loading.
    #[error("cannot write the module to a temporary file for the load check")]
    Io(#[source] std::io::Error),
}

/// Loads the bundle's module into a throw-away redis-server and reports what went wrong.
pub fn check_load(
    bundle: &Bundle,
    options: &LoadOptions,
) -> Result<Vec<Diagnostic>, LoadCheckError> {
    let Some(module) = &bundle.module else {
        return Ok(vec![LOAD_SKIPPED.finding(
            "there is no module .so to load (only a module.json); the load check was skipped",
        )]);
    };
    let location = module.name.clone();
    let host = std::env::consts::ARCH;
    match ElfFacts::read(&module.bytes) {
        Ok(facts) => {
            let arch = facts.rs_architecture();
            if arch != Some(host) {
                let built_for = arch.map_or_else(|| facts.describe_architecture(), str::to_string);
                return Ok(vec![LOAD_SKIPPED
                    .finding(format!(
                        "{location} is built for {built_for} and this machine is {host}, so it cannot be loaded here; the load check was skipped"
                    ))
                    .at(location)]);
            }
        }
        // The ELF rules report an unreadable module; there is nothing to load.
        Err(_) => {
            return Ok(vec![LOAD_SKIPPED
                .finding(format!(
                    "{location} is not a readable ELF file; the load check was skipped"
                ))
                .at(location)])
        }
    }

    let value = bundle
        .manifest_value()
        .and_then(serde_json::Value::as_object);
    // RS splits command_line_args on spaces; so does the load check.
    let args: Vec<String> = value
        .and_then(|v| v.get("command_line_args"))
        .and_then(serde_json::Value::as_str)
        .map(|text| text.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();

    // The module goes to a private folder, with the execute bit Redis insists on.
    let dir = tempfile::Builder::new()
        .prefix("rmpack-load-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map_err(LoadCheckError::Io)?;
    let _remove_on_interrupt = interrupt::remove_on_interrupt(dir.path());
    let file_name = std::path::Path::new(&module.name)
        .file_name()
        .map_or_else(|| "module.so".into(), |n| n.to_owned());
    let path = dir.path().join(file_name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(&path)
        .and_then(|mut file| file.write_all(&module.bytes))
        .map_err(LoadCheckError::Io)?;

    let mut server = RedisServer::start(options.redis_server.as_deref(), options.timeout)
        .map_err(LoadCheckError::Server)?;
    let redis = server.redis_version().to_string();
    let loaded = discover::load_and_read(&mut server, &path, &args, &crate::listener::Silent);
    drop(server);

    let finding = |rule: &'static super::Rule, message: String| {
        Ok(vec![rule.finding(message).at(location.clone())])
    };
    let discovered = match loaded {
        Ok(discovered) => discovered,
        Err(DiscoverError::MissingLibrary { soname, .. }) => {
            return finding(
                &LOAD_MISSING_LIBRARY,
                format!("the module needs the library {soname}, which this machine (Redis {redis}) lacks: the dynamic loader cannot find it"),
            )
        }
        Err(DiscoverError::RedisTooOld { asked, used, .. }) => {
            return finding(
                &LOAD_REDIS_TOO_OLD,
                format!("the module refuses Redis {used}: it asks for Redis {asked}"),
            )
        }
        Err(DiscoverError::ServerCrashed { status, log_lines, .. }) => {
            return finding(
                &LOAD_CRASH,
                format!(
                    "redis-server {redis} crashed while loading the module ({status}){}",
                    last_line(&log_lines)
                ),
            )
        }
        Err(DiscoverError::Timeout { action, timeout }) if action == "MODULE" => {
            return finding(
                &LOAD_HANG,
                format!(
                    "the module did not finish loading within {} s (RedisModule_OnLoad hangs); the server was killed",
                    timeout.as_secs_f64()
                ),
            )
        }
        Err(
            error @ (DiscoverError::LoadFailed { .. }
            | DiscoverError::CannotOpenModule { .. }
            | DiscoverError::NoNewModule { .. }
            | DiscoverError::MultipleNewModules { .. }),
        ) => {
            let reason = match &error {
                DiscoverError::LoadFailed { log_lines, reply, .. } => {
                    if log_lines.is_empty() {
                        reply.clone()
                    } else {
                        log_lines.join("; ")
                    }
                }
                other => other.to_string(),
            };
            return finding(
                &LOAD_FAILED,
                format!("redis-server {redis} refused to load the module: {reason}"),
            );
        }
        Err(other) => return Err(LoadCheckError::Server(other)),
    };

    let mut out = Vec::new();
    let registered: BTreeSet<String> = discovered
        .commands
        .iter()
        .map(|c| c.command_name.to_ascii_lowercase())
        .collect();
    let listed: Option<Vec<String>> = value.and_then(|v| v.get("commands")).and_then(|c| {
        c.as_array().map(|items| {
            items
                .iter()
                .filter_map(|item| item.get("command_name")?.as_str().map(str::to_string))
                .collect()
        })
    });
    if let Some(listed) = &listed {
        let listed_lower: BTreeSet<String> =
            listed.iter().map(|n| n.to_ascii_lowercase()).collect();
        for name in listed {
            if !registered.contains(&name.to_ascii_lowercase()) {
                out.push(
                    LOAD_COMMAND_NOT_REGISTERED
                        .finding(format!(
                            "module.json lists command {name}, but the module does not register it"
                        ))
                        .at(bundle_json_location(bundle)),
                );
            }
        }
        for command in &discovered.commands {
            if !listed_lower.contains(&command.command_name.to_ascii_lowercase()) {
                out.push(
                    LOAD_COMMAND_NOT_LISTED
                        .finding(format!(
                            "the module registers command {}, which module.json does not list",
                            command.command_name
                        ))
                        .at(bundle_json_location(bundle)),
                );
            }
        }
    }
    out.push(
        LOAD_OK
            .finding(format!(
                "module {} {} loads into Redis {redis} and registers {} commands",
                discovered.module_name,
                discovered.version.semantic(),
                discovered.commands.len()
            ))
            .at(location),
    );
    Ok(out)
}

fn bundle_json_location(bundle: &Bundle) -> String {
    match bundle.source {
        crate::bundle::Source::ModuleJson => bundle.path.display().to_string(),
        _ => crate::bundle::MODULE_JSON.to_string(),
    }
}

/// The last server log line, as "; the server log ends: …", or nothing.
fn last_line(lines: &[String]) -> String {
    lines
        .last()
        .map(|line| format!("; the server log ends: \"{line}\""))
        .unwrap_or_default()
}
