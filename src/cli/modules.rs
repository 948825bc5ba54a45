//! `rmpack modules`: list, show or delete the modules registered with a cluster.

use anyhow::Context;
use rmpack::cluster::{Module, PollOptions};
use rmpack::rollout::artifacts::{self, DeleteResult};
use rmpack::rollout::status::databases_running;

use super::connection::{cluster_failure, rollout_failure, ClusterArgs};
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
        uid: String,
    },
    /// Delete a module (DELETE /v2/modules/UID, followed to its end).
    Delete {
        /// The module's uid.
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
                println!("{}", serde_json::to_string_pretty(&modules)?);
            } else {
                print_modules(&modules);
            }
            Ok(Status::Success)
        }
        ModulesCommand::Get { uid } => {
            let module = client
                .module_raw(&uid)
                .map_err(|e| cluster_failure(e, "cannot show the module"))?;
            println!("{}", serde_json::to_string_pretty(&module)?);
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
                client
                    .delete_user_defined(&uid)
                    .map_err(|e| cluster_failure(e, "cannot delete the module"))?;
                // stdout carries only the JSON with --json.
                eprintln!("deleted user-defined module {uid}");
                if args.cluster.json && artifact.is_none() {
                    println!(
                        "{}",
                        serde_json::json!({ "deleted": uid, "user_defined": true })
                    );
                }
                if let Some((name, version)) = artifact {
                    let nodes = artifacts::selected(&client, None, false)
                        .map_err(|e| rollout_failure(e, "cannot list the nodes"))?;
                    let rows = artifacts::delete_everywhere(&nodes, &name, version)
                        .map_err(|e| rollout_failure(e, "cannot delete the artifacts"))?;
                    if args.cluster.json {
                        println!("{}", serde_json::to_string_pretty(&rows)?);
                    } else {
                        print!("{}", rmpack::report::artifact_deletions(&rows));
                    }
                    let failed: Vec<&str> = rows
                        .iter()
                        .filter(|r| r.result == DeleteResult::Failed)
                        .map(|r| r.node.as_str())
                        .collect();
                    if !failed.is_empty() {
                        return Err(anyhow::Error::new(CheckFailed(format!(
                            "{name} {version} could not be deleted from node(s) {}; delete it there with `rmpack artifacts delete {name} {version} --nodes {}`",
                            failed.join(", "),
                            failed.join(",")
                        ))));
                    }
                }
            } else {
                let action = client
                    .delete_module(&uid)
                    .map_err(|e| cluster_failure(e, "cannot delete the module"))?;
                if let Some(action) = action {
                    client
                        .follow_action(&action, &PollOptions::default())
                        .map_err(|e| cluster_failure(e, "module deletion did not complete"))?;
                }
                eprintln!("deleted module {uid}");
                if args.cluster.json {
                    println!(
                        "{}",
                        serde_json::json!({ "deleted": uid, "user_defined": false })
                    );
                }
            }
            Ok(Status::Success)
        }
    }
}

fn print_modules(modules: &[Module]) {
    let rows: Vec<Vec<String>> = modules
        .iter()
        .map(|m| {
            vec![
                m.uid.to_string(),
                m.module_name.clone(),
                m.semantic_version.clone().unwrap_or_else(|| "-".into()),
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
        rmpack::report::table(&["UID", "NAME", "VERSION", "NUMBER", "BUNDLED"], &rows)
    );
}
