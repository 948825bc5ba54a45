//! `rmpack upload`, and the connection flags every cluster subcommand shares.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rmpack::bundle::Bundle;
use rmpack::cluster::{
    self, Client, ClientOptions, ClusterError, ConnectionFlags, Password, PollOptions, RetryPolicy,
};
use rmpack::report;
use rmpack::rollout::{self, Rollout, RolloutError, RolloutOptions};
use rmpack::validate::{self, CheckOptions, Report, Target};
use rmpack::Listener;

use super::ui::TermListener;
use super::{CheckFailed, Status};

/// How to reach and authenticate to a cluster; shared by upload, modules, artifacts, upgrade.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Cluster URL: any node's REST API, e.g. https://node1.example.com:9443
    /// [env: RMPACK_URL, REDIS_ENTERPRISE_URL]
    #[arg(long = "cluster", value_name = "URL", global = true)]
    pub url: Option<String>,
    /// User name [env: RMPACK_USER, REDIS_ENTERPRISE_USER].
    #[arg(long, value_name = "USER", global = true)]
    pub user: Option<String>,
    /// Password; visible in the process list, prefer RMPACK_PASSWORD, a profile or the prompt.
    #[arg(long, value_name = "PASSWORD", global = true)]
    pub password: Option<String>,
    /// A profile of ~/.config/rmpack/profiles.toml (or $RMPACK_PROFILES).
    #[arg(long, value_name = "NAME", global = true)]
    pub profile: Option<String>,
    /// PEM file with the cluster's CA certificate [env: RMPACK_CA_CERT, REDIS_ENTERPRISE_CA_CERT].
    #[arg(long, value_name = "PEM", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the cluster's certificate (warned about) [env: REDIS_ENTERPRISE_INSECURE].
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Allow a plain http:// URL: the password then crosses the network unencrypted.
    #[arg(long, global = true)]
    pub allow_http: bool,
    /// Seconds allowed for one ordinary request (uploads get more, scaled to their size).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub timeout: u64,
    /// Attempts per request for transient failures (409, 503, busy, resets), first included.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10), global = true)]
    pub retries: u32,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Only warnings and results, no progress lines.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// A cluster error is "the cluster said no" (exit 1) unless it is about the user's input
/// (missing URL, bad profile, unreadable file: exit 2).
pub fn is_usage_error(error: &ClusterError) -> bool {
    matches!(
        error,
        ClusterError::MissingUrl
            | ClusterError::MissingUser
            | ClusterError::MissingPassword
            | ClusterError::Prompt { .. }
            | ClusterError::ProfileRead { .. }
            | ClusterError::ProfileParse { .. }
            | ClusterError::ProfileMissing { .. }
            | ClusterError::ProfilePermissions { .. }
            | ClusterError::BadUrl { .. }
            | ClusterError::PlainHttp { .. }
            | ClusterError::CaCert { .. }
            | ClusterError::File { .. }
    )
}

/// Wraps a cluster error for `anyhow`, marking server-side refusals as exit 1.
pub fn cluster_failure(error: ClusterError, what: &str) -> anyhow::Error {
    if is_usage_error(&error) {
        anyhow::Error::new(error)
    } else {
        // CheckFailed must be an error of the chain itself (not a context) for the exit code.
        anyhow::Error::new(CheckFailed(error.to_string())).context(what.to_string())
    }
}

impl ClusterArgs {
    fn flags(&self) -> ConnectionFlags {
        ConnectionFlags {
            url: self.url.clone(),
            user: self.user.clone(),
            password: self.password.clone().map(Password::new),
            profile: self.profile.clone(),
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
            allow_http: self.allow_http,
        }
    }

    /// The listener for this command's progress.
    pub fn listener(&self) -> Arc<TermListener> {
        Arc::new(TermListener::new(self.quiet || self.json))
    }

    /// Resolves credentials (prompting on a terminal) and builds the client.
    pub fn connect(&self, listener: Arc<dyn Listener>) -> anyhow::Result<Client> {
        let env = |name: &str| std::env::var(name).ok();
        let ask = |question: &str| rpassword::prompt_password(question);
        let prompt: Option<cluster::PasswordPrompt<'_>> =
            std::io::stdin().is_terminal().then_some(&ask as _);
        let settings = cluster::resolve(&self.flags(), &env, prompt, listener.as_ref())
            .map_err(|e| cluster_failure(e, "cannot connect"))?;
        let options = ClientOptions {
            request_timeout: Duration::from_secs(self.timeout.max(1)),
            retry: RetryPolicy {
                max_attempts: self.retries,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        };
        Client::new(&settings, options, listener).map_err(|e| cluster_failure(e, "cannot connect"))
    }
}

/// Arguments of `rmpack upload`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The module zip (from `rmpack pack`).
    zip: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Only these nodes (uids, comma separated), e.g. to resume a partial rollout.
    #[arg(long, value_delimiter = ',', value_name = "UIDS")]
    nodes: Option<Vec<String>>,
    /// Reach nodes by their external_addr instead of addr.
    #[arg(long)]
    external: bool,
    /// Uploads in flight at once.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=64))]
    concurrency: u64,
    /// Print the plan (requests, nodes, bytes); send only GET requests.
    #[arg(long)]
    dry_run: bool,
    /// When a node fails, delete what this run uploaded and registered.
    #[arg(long)]
    rollback_on_failure: bool,
    /// Bundled (RAMP-style) upload: POST /v2/modules once, followed to its end.
    #[arg(long)]
    bundled: bool,
    /// Treat pre-flight warnings as errors.
    #[arg(long)]
    strict: bool,
}

/// The validator, run once on the live target before anything is sent. The bundle is dropped
/// right after the check, before the artifact is streamed.
fn preflight_check(
    bundle: std::cell::RefCell<Option<Bundle>>,
    subject: String,
    strict: bool,
) -> impl Fn(&Target) -> Report {
    move |target: &Target| match bundle.borrow_mut().take() {
        Some(bundle) => {
            let mut report = validate::check_bundle(&bundle, target, &CheckOptions::default());
            if strict {
                report.promote_warnings();
            }
            report
        }
        None => Report {
            subject: subject.clone(),
            diagnostics: Vec::new(),
        },
    }
}

/// Runs `rmpack upload`.
pub fn run(args: Args) -> anyhow::Result<Status> {
    let listener = args.cluster.listener();
    let client = args.cluster.connect(listener.clone())?;
    let options = RolloutOptions {
        nodes: args.nodes.clone(),
        external: args.external,
        concurrency: args.concurrency as usize,
        dry_run: args.dry_run,
        rollback_on_failure: args.rollback_on_failure,
        bundled: args.bundled,
        poll: PollOptions::default(),
    };
    let bundle = Bundle::read(&args.zip)
        .with_context(|| format!("cannot read module zip {}", args.zip.display()))?;
    let check = preflight_check(
        std::cell::RefCell::new(Some(bundle)),
        args.zip.display().to_string(),
        args.strict,
    );
    let rollout = match rollout::run(&client, &args.zip, &options, &check) {
        Ok(rollout) => rollout,
        Err(RolloutError::Preflight { source_url, report }) => {
            let style = report::Style {
                color: std::io::stderr().is_terminal(),
            };
            eprint!("{}", report::human(&report, style));
            return Err(anyhow::Error::new(CheckFailed(format!(
                "pre-flight check against {source_url} failed; nothing was sent to the cluster"
            ))));
        }
        Err(RolloutError::Cluster(error)) => {
            return Err(cluster_failure(error, "upload failed"));
        }
        Err(error @ (RolloutError::UploadsDisabled { .. } | RolloutError::NoNodes)) => {
            return Err(
                anyhow::Error::new(CheckFailed(error.to_string())).context("upload refused")
            );
        }
        Err(error) => return Err(anyhow::Error::new(error)),
    };
    if args.cluster.json {
        let mut value = serde_json::to_value(&rollout).context("cannot render the rollout")?;
        if let Some(object) = value.as_object_mut() {
            object.insert("complete".into(), rollout.is_complete().into());
            object.insert("changed".into(), rollout.changed_anything().into());
            object.insert(
                "resume_command".into(),
                resume_command(&rollout)
                    .filter(|_| !rollout.rolled_back)
                    .map_or(serde_json::Value::Null, Into::into),
            );
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let style = report::Style {
            color: std::io::stdout().is_terminal(),
        };
        let resume = if rollout.rolled_back {
            None
        } else {
            resume_command(&rollout)
        };
        print!("{}", report::rollout(&rollout, resume.as_deref(), style));
    }
    Ok(if rollout.is_complete() && !rollout.rolled_back {
        Status::Success
    } else {
        Status::Failure
    })
}

/// The command that finishes a partial rollout: this command line with `--nodes` of the nodes
/// still missing the artifact (never the password: it comes from the environment or a prompt).
fn resume_command(rollout: &Rollout) -> Option<String> {
    let missing = rollout.unfinished_nodes();
    if missing.is_empty() || rollout.bundled || rollout.dry_run {
        return None;
    }
    let mut words: Vec<String> = Vec::new();
    // args_os: a zip path need not be UTF-8.
    let mut args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        if arg == "--nodes" || arg == "--password" {
            args.next();
            continue;
        }
        if arg.starts_with("--nodes=") || arg.starts_with("--password=") {
            continue;
        }
        if arg == "--rollback-on-failure" || arg == "--json" {
            continue;
        }
        words.push(shell_quote(&arg));
    }
    Some(format!(
        "rmpack {} --nodes {}",
        words.join(" "),
        missing.join(",")
    ))
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_leaves_plain_words_alone() {
        assert_eq!(shell_quote("--cluster"), "--cluster");
        assert_eq!(
            shell_quote("https://127.0.0.1:9443"),
            "https://127.0.0.1:9443"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
