//! `rmpack bootstrap-config`: the list of a release's zips that new nodes download themselves,
//! as RS's bootstrap request (`user_defined_modules`) or the Kubernetes REC
//! (`spec.userDefinedModules`) takes it.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context};
use rmpack::manifest::{Arch, OsNick};
use rmpack::release::provision::{
    self, ConfigKind, CredentialsEnv, DownloadBase, ProvisionOptions, SecretName,
};
use rmpack::report::{self, shown};
use rmpack::validate::{self, CheckOptions, Severity, Target};

use super::{CheckFailed, Status};

/// What `rmpack bootstrap-config` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// RS (8.0.6 and later): `user_defined_modules` for the body of POST
    /// /v1/bootstrap/{create_cluster,join_cluster,recover_cluster}, as JSON.
    Rs,
    /// Kubernetes: the RedisEnterpriseCluster's `spec.userDefinedModules`, as a YAML merge patch.
    K8s,
}

/// Arguments of `rmpack bootstrap-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The release's zips, or a folder holding them, checked as one set first.
    #[arg(required = true, value_name = "ZIP|DIR")]
    paths: Vec<PathBuf>,
    /// The folder URL the zips are served from (http or https); each zip's URL is this
    /// followed by its file name.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// What to write.
    #[arg(long, value_enum)]
    format: Format,
    /// The OSes your nodes run (e.g. rhel9): list only their builds, and name each version
    /// without one.
    #[arg(long, value_delimiter = ',', value_name = "OS")]
    os: Vec<String>,
    /// The architectures your nodes run (x86_64, aarch64).
    #[arg(long, value_delimiter = ',', value_name = "ARCH")]
    arch: Vec<String>,
    /// (rs) Write the download credentials as ${USER_VAR} and ${PASS_VAR}, to fill in when the
    /// request is sent; the values themselves are never written.
    #[arg(long, value_name = "USER_VAR:PASS_VAR")]
    credentials_env: Option<String>,
    /// (k8s) The Kubernetes secret (keys username and password) the operator downloads with.
    #[arg(long, value_name = "NAME")]
    k8s_secret: Option<String>,
    /// Write the configuration to FILE (atomically) instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
    /// Cap on the bytes a zip may inflate to.
    #[arg(long, value_name = "BYTES", default_value_t = rmpack::bundle::DEFAULT_MAX_TOTAL_SIZE)]
    max_size: u64,
}

/// Runs `rmpack bootstrap-config`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    // Every flag is checked before a zip is read. The base URL is parsed here rather than by
    // clap, whose error would quote a password pasted into it.
    let base: DownloadBase = args.base_url.parse()?;
    let kind = match args.format {
        Format::Rs => {
            if args.k8s_secret.is_some() {
                bail!("--k8s-secret is for --format k8s; the rs list takes --credentials-env USER_VAR:PASS_VAR");
            }
            ConfigKind::Bootstrap(
                args.credentials_env
                    .as_deref()
                    .map(str::parse::<CredentialsEnv>)
                    .transpose()?,
            )
        }
        Format::K8s => {
            if args.credentials_env.is_some() {
                bail!("--credentials-env is for --format rs; the REC takes a secret's name, --k8s-secret NAME");
            }
            ConfigKind::Rec(
                args.k8s_secret
                    .as_deref()
                    .map(str::parse::<SecretName>)
                    .transpose()?,
            )
        }
    };
    let mut target = Target::default();
    for name in &args.os {
        target
            .operating_systems
            .push(OsNick::parse(name, false).context("--os")?);
    }
    for name in &args.arch {
        target
            .architectures
            .push(name.parse::<Arch>().context("--arch")?);
    }
    let options = ProvisionOptions {
        base,
        kind,
        operating_systems: target.operating_systems.clone(),
        architectures: target.architectures.clone(),
    };

    let inputs = rmpack::release::collect_inputs(&args.paths)?;
    if let Some(output) = &args.output {
        refuse_overwriting_an_input(output, &inputs.zips)?;
    }
    let check = CheckOptions {
        limits: rmpack::bundle::Limits {
            max_total_size: args.max_size,
            ..Default::default()
        },
    };
    let (set, set_report) = validate::check_set(&inputs, &target, &check, None);
    let findings = set_report.all_findings();
    if set_report.failed(false) {
        let style = report::Style {
            color: std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        eprint!("{}", report::human(&findings, style));
        return Err(anyhow::Error::new(CheckFailed(
            "the release set fails its own rules; no configuration written".to_string(),
        )));
    }
    for finding in findings
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
    {
        let location = finding
            .location
            .as_deref()
            .map(|l| format!("{}: ", shown(l)))
            .unwrap_or_default();
        eprintln!(
            "warning[{}] {location}{}",
            finding.rule,
            shown(&finding.message)
        );
    }

    let provision = match provision::plan(&set, &options) {
        Ok(provision) => provision,
        Err(error) if error.is_check_failure() => {
            return Err(anyhow::Error::new(CheckFailed(error.to_string())))
        }
        Err(error) => return Err(error.into()),
    };
    for warning in &provision.warnings {
        eprintln!("warning: {}", shown(warning));
    }
    let text = provision.text();
    let versions: std::collections::BTreeSet<String> = provision
        .entries
        .iter()
        .map(|e| e.version.semantic().to_string())
        .collect();
    let summary = format!(
        "{} of {} {} for {}",
        report::plural(provision.entries.len(), "zip"),
        shown(&provision.module_name),
        versions.into_iter().collect::<Vec<_>>().join(", "),
        provision.platforms.join(", ")
    );
    match &args.output {
        Some(path) => {
            provision::write_atomically(path, &text)
                .with_context(|| format!("cannot write {}", shown(path.display())))?;
            eprintln!("wrote {summary} to {}", shown(path.display()));
        }
        None => {
            print!("{text}");
            eprintln!("listed {summary}");
        }
    }
    for step in &provision.to_do {
        eprintln!("to do: {}", shown(step));
    }
    Ok(Status::Success)
}

/// `--output` naming a zip of the set would destroy it.
fn refuse_overwriting_an_input(output: &std::path::Path, zips: &[PathBuf]) -> anyhow::Result<()> {
    let Ok(output) = std::fs::canonicalize(output) else {
        return Ok(());
    };
    for zip in zips {
        if std::fs::canonicalize(zip).is_ok_and(|p| p == output) {
            bail!(
                "--output {} is a zip of the set; write the configuration to another file",
                shown(zip.display())
            );
        }
    }
    Ok(())
}
