//! `rmpack validate`: check a module before upload and predict the RS error codes.

use std::path::PathBuf;

use anyhow::{bail, Context};
use rmpack::report;
use rmpack::validate::target::TargetSpec;
use rmpack::validate::{self, CheckOptions, Target};

use super::ui::stdout_style;
use super::Status;

/// Output formats of `rmpack validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Findings grouped by severity, each with its fix.
    Human,
    /// JSON with a `version` field (schema/validate-report.schema.json).
    Json,
    /// GitHub Actions annotations (`::error file=…::…`).
    Github,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// Arguments of `rmpack validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A module .so, a module.json, a module zip, or a folder holding them; or the zips of a
    /// release (several zips, or a folder of zips), checked one by one and then as one set.
    #[arg(required_unless_present = "list_rules", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Write the set's checksums to FILE as `sha256sum -c` reads them (sorted, names relative
    /// to FILE's folder), when the set has no errors.
    #[arg(long, value_name = "FILE")]
    pub write_checksums: Option<PathBuf>,
    /// Verify the set against a `sha256sum` file: name every zip that differs, is missing or is
    /// not listed.
    #[arg(long, value_name = "FILE")]
    pub checksums: Option<PathBuf>,
    /// Target OS nicknames the module must load on (e.g. rhel9,ubuntu22.04).
    #[arg(long, value_delimiter = ',', value_name = "OS")]
    pub os: Vec<String>,
    /// Target architectures (x86_64, aarch64).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    pub arch: Vec<String>,
    /// Redis version of the target database (e.g. 7.4.2).
    #[arg(long, value_name = "VERSION")]
    pub redis_version: Option<String>,
    /// RS version of the target cluster (e.g. 7.8.2).
    #[arg(long, value_name = "VERSION")]
    pub rs_version: Option<String>,
    /// A database object as `GET /v1/bdbs/{uid}` returns it (JSON), for capability checks.
    #[arg(long, value_name = "FILE")]
    pub db_config: Option<PathBuf>,
    /// Version of the module already on the cluster: an integer (10203) or semantic (1.2.3).
    #[arg(long, value_name = "VERSION")]
    pub current_version: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Treat warnings as errors.
    #[arg(long)]
    pub strict: bool,
    /// Cap on the bytes a zip may inflate to.
    #[arg(long, value_name = "BYTES", default_value_t = rmpack::bundle::DEFAULT_MAX_TOTAL_SIZE)]
    pub max_size: u64,
    /// Also load the module (with its command_line_args) into a throw-away redis-server and
    /// report a missing library, a refused Redis version, a crash or hang at load, and commands
    /// module.json lists but the module does not register (or the reverse).
    #[arg(long)]
    pub load: bool,
    /// redis-server for --load (else RMPACK_REDIS_SERVER, else PATH).
    #[arg(long, env = "RMPACK_REDIS_SERVER", value_name = "PATH")]
    pub redis_server: Option<PathBuf>,
    /// Seconds --load waits for the server and for the module to load.
    #[arg(long, default_value_t = 20, value_name = "SECONDS", requires = "load")]
    pub load_timeout: u64,
    /// Print the rule catalogue as a Markdown table and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Database uid on the live cluster (with --cluster) whose configuration and Redis version
    /// to check against.
    #[arg(long, value_name = "UID", requires = "url")]
    pub db: Option<String>,
    /// A live cluster to check against (--cluster URL, credentials as for `rmpack upload`).
    #[command(flatten)]
    pub cluster: super::connection::ClusterArgs,
    /// Every cluster of a fleet as the target, one report per cluster.
    #[command(flatten)]
    pub fleet: super::connection::FleetArgs,
}

/// Runs `rmpack validate`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    if args.list_rules {
        print!("{}", report::rules_markdown());
        return Ok(Status::Success);
    }
    if let Some(fleet) = &args.fleet.fleet {
        return run_fleet(&args, fleet);
    }
    let [path] = args.paths.as_slice() else {
        return run_set(&args);
    };
    if args.write_checksums.is_some()
        || args.checksums.is_some()
        || rmpack::release::set::is_release_folder(path)
    {
        return run_set(&args);
    }
    let options = check_options(&args);
    let bundle = validate::open(path, &options)
        .with_context(|| format!("cannot validate {}", path.display()))?;
    let module_name = bundle.manifest().map(|m| m.module_name.clone());
    let target = live_target(&args, offline_target(&args)?, module_name.as_deref())?;
    let mut report = validate::check_bundle(&bundle, &target, &options);
    if args.load {
        let load = validate::load::LoadOptions {
            redis_server: args.redis_server.clone(),
            timeout: std::time::Duration::from_secs(args.load_timeout),
        };
        let findings = validate::load::check_load(&bundle, &load)
            .with_context(|| format!("cannot load {} for --load", path.display()))?;
        report.diagnostics.extend(findings);
    }
    if args.strict {
        report.promote_warnings();
    }
    let output = match args.format {
        Format::Human => report::human(&report, stdout_style()),
        Format::Json => pretty(&report::json(&report)),
        Format::Github => report::github(&report),
        Format::Sarif => pretty(&report::sarif(&report)),
    };
    print!("{output}");
    Ok(if report.failed(args.strict) {
        Status::Failure
    } else {
        Status::Success
    })
}

fn check_options(args: &Args) -> CheckOptions {
    CheckOptions {
        limits: rmpack::bundle::Limits {
            max_total_size: args.max_size,
            ..Default::default()
        },
    }
}

/// Validates the zips of a release one by one and as a set; writes or verifies checksums.
fn run_set(args: &Args) -> anyhow::Result<Status> {
    if args.load {
        bail!("--load checks one module at a time; run `rmpack validate ZIP --load` for each zip");
    }
    let inputs = rmpack::release::collect_inputs(&args.paths)?;
    let target = live_target(args, offline_target(args)?, None)?;
    let checksums = read_checksums(args)?;
    let (set, mut report) =
        validate::check_set(&inputs, &target, &check_options(args), checksums.as_ref());
    if args.strict {
        report.promote_warnings();
    }
    let output = match args.format {
        Format::Human => report::set_human(&report, stdout_style()),
        Format::Json => pretty(&report::set_json(&report)),
        Format::Github => report::github(&report.all_findings()),
        Format::Sarif => pretty(&report::sarif(&report.all_findings())),
    };
    print!("{output}");
    let failed = report.failed(args.strict);
    if let Some(path) = &args.write_checksums {
        if failed {
            eprintln!(
                "checksums not written to {}: the set has errors",
                path.display()
            );
        } else {
            rmpack::release::write_checksums(path, &set.members)
                .with_context(|| format!("cannot write checksums to {}", path.display()))?;
            eprintln!(
                "wrote the checksums of {} zip(s) to {}",
                set.members.len(),
                path.display()
            );
        }
    }
    Ok(if failed {
        Status::Failure
    } else {
        Status::Success
    })
}

/// The `--checksums` file, when given.
fn read_checksums(args: &Args) -> anyhow::Result<Option<validate::ChecksumFile>> {
    args.checksums
        .as_deref()
        .map(|path| {
            validate::ChecksumFile::read(path)
                .with_context(|| format!("cannot read --checksums {}", path.display()))
        })
        .transpose()
}

fn pretty(value: &serde_json::Value) -> String {
    report::json_pretty(value)
}

/// The target described by the offline flags (`--os`, `--arch`, versions, `--db-config`,
/// `--current-version`).
pub fn offline_target(args: &Args) -> anyhow::Result<Target> {
    let spec = TargetSpec {
        operating_systems: args.os.clone(),
        architectures: args.arch.clone(),
        redis_version: args.redis_version.clone(),
        rs_version: args.rs_version.clone(),
        database_config: args.db_config.clone(),
        current_version: args.current_version.clone(),
    };
    Ok(spec.resolve()?)
}

/// Completes `target` with facts from a live cluster (`--cluster URL [--db UID]`, or
/// `--profile`): node OS and architecture, RS and Redis versions, the database object, the
/// module already present, known capabilities and whether uploads are allowed. Flags given
/// explicitly win over what the cluster reports; offline, the target passes through.
pub fn live_target(
    args: &Args,
    target: Target,
    module_name: Option<&str>,
) -> anyhow::Result<Target> {
    if args.cluster.url.is_none() && args.cluster.profile.is_none() {
        return Ok(target);
    }
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener)?;
    let live = rmpack::rollout::live_target(&client, args.db.as_deref(), module_name)
        .map_err(|e| super::connection::cluster_failure(e, "cannot read the cluster"))?
        .target;
    Ok(target.completed_from(live))
}

/// `validate --fleet`: the module, or the release set, against every cluster of the fleet; the
/// input is read once, each cluster read with GET requests only.
fn run_fleet(args: &Args, fleet: &str) -> anyhow::Result<Status> {
    if args.load {
        bail!("--load checks the module itself, not a cluster; run it without --fleet");
    }
    if args.write_checksums.is_some() {
        bail!("--write-checksums writes the set's checksums; run it without --fleet");
    }
    if matches!(args.format, Format::Sarif) {
        bail!("--format sarif describes one target; with --fleet use human, json or github");
    }
    let offline = offline_target(args)?;
    let listener = args.cluster.listener();
    let members = args
        .cluster
        .connect_fleet(fleet, args.fleet.clusters.as_deref(), listener)?;
    let options = check_options(args);
    let single = match args.paths.as_slice() {
        [path] if args.checksums.is_none() && !rmpack::release::set::is_release_folder(path) => {
            Some(
                validate::open(path, &options)
                    .with_context(|| format!("cannot validate {}", path.display()))?,
            )
        }
        _ => None,
    };
    let inputs = match single {
        Some(_) => None,
        None => Some(rmpack::release::collect_inputs(&args.paths)?),
    };
    let module_name = single
        .as_ref()
        .and_then(|b| b.manifest().map(|m| m.module_name.clone()));
    // Each cluster's target: the offline flags, completed from the cluster.
    let targets: Vec<Result<Target, String>> = members
        .iter()
        .map(|member| {
            let client = member
                .client
                .as_ref()
                .map_err(|e| format!("cannot connect: {e}"))?;
            rmpack::rollout::live_target(client, None, module_name.as_deref())
                .map(|live| offline.clone().completed_from(live.target))
                .map_err(|e| format!("cannot read the cluster: {e}"))
        })
        .collect();
    let readable: Vec<Target> = targets.iter().flatten().cloned().collect();
    let mut checked: Vec<report::Checked> = match (&single, &inputs) {
        (Some(bundle), _) => readable
            .iter()
            .map(|target| report::Checked::Module(validate::check_bundle(bundle, target, &options)))
            .collect(),
        (None, Some(inputs)) => {
            let checksums = read_checksums(args)?;
            validate::check_set_for_each(inputs, &readable, &options, checksums.as_ref())
                .1
                .into_iter()
                .map(report::Checked::Set)
                .collect()
        }
        (None, None) => Vec::new(),
    };
    if args.strict {
        for checked in &mut checked {
            match checked {
                report::Checked::Module(report) => report.promote_warnings(),
                report::Checked::Set(report) => report.promote_warnings(),
            }
        }
    }
    let mut checked = checked.into_iter();
    let clusters: Vec<(String, Result<report::Checked, String>)> = members
        .iter()
        .zip(targets)
        .map(|(member, target)| {
            let result =
                target.and_then(|_| checked.next().ok_or_else(|| "not checked".to_string()));
            (member.name.clone(), result)
        })
        .collect();
    let output = match args.format {
        Format::Json => pretty(&report::fleet_validation_json(fleet, &clusters)),
        Format::Github => clusters
            .iter()
            .filter_map(|(_, c)| c.as_ref().ok())
            .map(|c| match c {
                report::Checked::Module(report) => report::github(report),
                report::Checked::Set(report) => report::github(&report.all_findings()),
            })
            .collect(),
        _ => report::fleet_validation_human(fleet, &clusters, stdout_style()),
    };
    print!("{output}");
    let failed = clusters
        .iter()
        .any(|(_, c)| c.as_ref().map_or(true, |c| c.failed(args.strict)));
    Ok(if failed {
        Status::Failure
    } else {
        Status::Success
    })
}
