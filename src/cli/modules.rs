//! `rmpack modules`: list, show or delete the modules registered with a cluster.

use anyhow::Context;
use rmpack::cluster::{action_uid_of, Client, Module, PollOptions};
use rmpack::report;
use rmpack::rollout::artifacts::{self, answer_error_of, DeleteResult};
use rmpack::rollout::status::databases_running;
use rmpack::text::command_line;
use serde_json::{json, Value};

use super::connection::{cluster_failure, cluster_words, plain_uid, rollout_failure, ClusterArgs};
use super::{CheckFailed, Status};

/// Arguments of `rmpack modules`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ModulesCommand,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ModulesCommand {
    /// List every module the cluster stores (GET /v1/modules).
    List,
    /// Show one module as the cluster stores it (GET /v1/modules/UID).
    Get {
        /// The module's uid.
        #[arg(value_parser = plain_uid)]
        uid: String,
    },
    /// Delete a module (DELETE /v2/modules/UID, followed to its end).
    Delete {
        /// The module's uid.
        #[arg(value_parser = plain_uid)]
        uid: String,
        /// A user-defined module: DELETE /v2/modules/user-defined/UID.
        #[arg(long)]
        user_defined: bool,
        /// With --user-defined: also delete its artifact from every node.
        #[arg(long, requires = "user_defined")]
        with_artifacts: bool,
        /// Delete even when databases run this version (RS answers 406 module_in_use).
        #[arg(long)]
        force: bool,
    },
}

/// Runs `rmpack modules`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    match args.command {
        ModulesCommand::List => {
            let modules = client
                .modules()
                .map_err(|e| cluster_failure(e, "cannot list modules"))?;
            if args.cluster.json {
                print!("{}", report::json_pretty(&modules));
            } else {
                print_modules(&modules);
            }
            Ok(Status::Success)
        }
        ModulesCommand::Get { uid } => {
            let module = client
                .module_raw(&uid)
                .map_err(|e| cluster_failure(e, "cannot show the module"))?;
            if !is_a_module(&module) {
                return Err(anyhow::Error::new(CheckFailed(format!(
                    "the cluster answered GET /v1/modules/{uid} without a module ({}); it holds no module {uid}",
                    describe_empty(&module)
                ))));
            }
            print!("{}", report::json_pretty(&module));
            Ok(Status::Success)
        }
        ModulesCommand::Delete {
            uid,
            user_defined,
            with_artifacts,
            force,
        } => {
            let module = client
                .module(&uid)
                .map_err(|e| cluster_failure(e, "cannot read the module"))?;
            if module.uid.0.is_empty() && module.module_name.is_empty() {
                return Err(anyhow::Error::new(CheckFailed(format!(
                    "the cluster answered GET /v1/modules/{uid} without a module; nothing was deleted"
                ))));
            }
            if let Some(version) = module.module_version() {
                let users = databases_running(&client, &module.module_name, version)
                    .map_err(|e| cluster_failure(e, "cannot list the databases"))?;
                if !users.is_empty() && !force {
                    return Err(anyhow::Error::new(CheckFailed(format!(
                        "database(s) {} run {} {}; upgrade them to another version first (`rmpack upgrade`), or give --force",
                        users.join(", "),
                        module.module_name,
                        version.semantic()
                    ))));
                }
            }
            if user_defined {
                let module = with_artifacts.then_some(module);
                // Know which artifacts to delete before the configuration is gone.
                let artifact = match &module {
                    Some(module) => Some((
                        module.module_name.clone(),
                        module.module_version().context(
                            "the module has no version; delete its artifacts with `rmpack artifacts delete`",
                        )?,
                    )),
                    None => None,
                };
                let answer = client
                    .delete_user_defined_answer(&uid)
                    .map_err(|e| cluster_failure(e, "cannot delete the module"))?;
                confirm_gone(&client, &uid, &answer)?;
                // stdout carries only the JSON with --json.
                eprintln!("deleted user-defined module {uid} (the cluster no longer lists it)");
                if args.cluster.json && artifact.is_none() {
                    print!(
                        "{}",
                        report::json_pretty(&json!({ "deleted": uid, "user_defined": true }))
                    );
                }
                if let Some((name, version)) = artifact {
                    let nodes = artifacts::selected(&client, None, false)
                        .map_err(|e| rollout_failure(e, "cannot list the nodes"))?;
                    let rows = artifacts::delete_everywhere(&nodes, &name, version)
                        .map_err(|e| rollout_failure(e, "cannot delete the artifacts"))?;
                    if args.cluster.json {
                        print!("{}", report::json_pretty(&rows));
                    } else {
                        print!("{}", report::artifact_deletions(&rows));
                    }
                    let failed: Vec<&str> = rows
                        .iter()
                        .filter(|r| r.result == DeleteResult::Failed)
                        .map(|r| r.node.as_str())
                        .collect();
                    if !failed.is_empty() {
                        let semantic = version.semantic().to_string();
                        let nodes = failed.join(",");
                        let retry = command_line(
                            ["rmpack", "artifacts", "delete", name.as_str(), &semantic]
                                .into_iter()
                                .map(str::to_string)
                                .chain(["--nodes".to_string(), nodes])
                                .chain(cluster_words()),
                        );
                        return Err(anyhow::Error::new(CheckFailed(format!(
                            "{name} {semantic} could not be deleted from node(s) {}; delete it there with: {retry}",
                            failed.join(", "),
                        ))));
                    }
                }
            } else {
                let answer = client
                    .delete_module_answer(&uid)
                    .map_err(|e| cluster_failure(e, "cannot delete the module"))?;
                if let Some(action) = action_uid_of(&answer) {
                    client
                        .follow_action(&action, &PollOptions::default())
                        .map_err(|e| cluster_failure(e, "module deletion did not complete"))?;
                }
                confirm_gone(&client, &uid, &answer)?;
                eprintln!("deleted module {uid} (the cluster no longer lists it)");
                if args.cluster.json {
                    print!(
                        "{}",
                        report::json_pretty(&json!({ "deleted": uid, "user_defined": false }))
                    );
                }
            }
            Ok(Status::Success)
        }
    }
}

/// Whether a module object answered by the cluster is one: an object naming a uid or a name.
fn is_a_module(value: &Value) -> bool {
    let named = |key: &str| match value.get(key) {
        Some(Value::String(text)) => !text.is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    };
    value.is_object() && (named("uid") || named("module_name"))
}

fn describe_empty(value: &Value) -> &'static str {
    match value {
        Value::Null => "an empty body or null",
        Value::Object(map) if map.is_empty() => "an empty object",
        Value::Object(_) => "an object with neither uid nor module_name",
        _ => "no JSON object",
    }
}

/// A delete is done when the cluster no longer lists the module (GET /v1/modules), not when it
/// answers: a node or proxy may answer 200 with an error in the body.
fn confirm_gone(client: &Client, uid: &str, answer: &Value) -> anyhow::Result<()> {
    let still_listed = client
        .modules()
        .map_err(|e| {
            cluster_failure(
                e,
                "the delete was answered, but the module list cannot be read to confirm it",
            )
        })?
        .iter()
        .any(|m| m.uid.0 == uid);
    if !still_listed {
        return Ok(());
    }
    let said = match answer_error_of(answer) {
        Some(error) => format!("the cluster answered {error}"),
        None => "the cluster answered that it deleted it".to_string(),
    };
    Err(anyhow::Error::new(CheckFailed(format!(
        "module {uid} was not deleted: {said}, but GET /v1/modules still lists it"
    ))))
}

fn print_modules(modules: &[Module]) {
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| {
            vec![
                report::shown(&m.uid),
                report::shown(&m.module_name),
                report::shown(m.semantic_version.as_deref().unwrap_or("-")),
                m.module_version().map_or("-".into(), |v| v.to_string()),
                match m.is_bundled {
                    Some(true) => "yes",
                    Some(false) => "no",
                    None => "-",
                }
                .to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        report::table(&["UID", "NAME", "VERSION", "NUMBER", "BUNDLED"], &rows)
    );
}
