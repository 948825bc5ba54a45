//! The connection flags every cluster subcommand shares (upload, upgrade, status, modules,
//! artifacts, validate --cluster), and how cluster errors become exit codes.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmpack::cluster::{
    self, Client, ClientOptions, ClusterError, ConnectionFlags, Password, RetryPolicy,
};
use rmpack::rollout::RolloutError;
use rmpack::Listener;

use super::ui::TermListener;
use super::CheckFailed;

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
    /// Seconds to keep trying while the cluster answers busy (another change in progress).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub busy_timeout: u64,
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
            | ClusterError::FleetInvalid { .. }
            | ClusterError::BadUrl { .. }
            | ClusterError::PlainHttp { .. }
            | ClusterError::CaCert { .. }
            | ClusterError::File { .. }
            | ClusterError::UnsafePathSegment { .. }
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
        Client::new(&settings, self.client_options(), listener)
            .map_err(|e| cluster_failure(e, "cannot connect"))
    }
}

/// A fleet of the profile file instead of one cluster (upload, upgrade, status).
#[derive(Debug, Clone, clap::Args)]
pub struct FleetArgs {
    /// Roll out over (or read) a fleet of the profile file: `[fleet.NAME]` with
    /// `waves = [["stage"], ["prod-eu", "prod-us"]]`, each name a profile with its own URL,
    /// user, password (or `password_env`) and CA.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with_all = ["url", "profile", "user", "password", "ca_cert"]
    )]
    pub fleet: Option<String>,
    /// With --fleet: only these clusters (profile names, comma separated), as a resume command
    /// names the clusters left.
    #[arg(
        long = "clusters",
        value_name = "NAMES",
        value_delimiter = ',',
        requires = "fleet"
    )]
    pub clusters: Option<Vec<String>>,
}

impl ClusterArgs {
    /// The clusters of fleet `name`: each profile's settings resolved on their own (its URL,
    /// user, password or `password_env`, CA; this command's --insecure, --allow-http, timeouts
    /// and retries), each client's lines labelled with the profile's name. A profile that cannot
    /// be resolved is named in its row, not fatal here: the fleet's pre-flight refuses it.
    pub fn connect_fleet(
        &self,
        name: &str,
        only: Option<&[String]>,
        listener: Arc<dyn Listener>,
    ) -> anyhow::Result<Vec<rmpack::rollout::fleet::FleetMember>> {
        let env = |name: &str| std::env::var(name).ok();
        let path = cluster::default_profile_path(&env).ok_or_else(|| {
            anyhow::anyhow!("--fleet needs a profile file: set RMPACK_PROFILES or HOME")
        })?;
        let spec = cluster::read_fleet(&path, name)
            .map_err(|e| cluster_failure(e, "cannot read the fleet"))?;
        let ask = |question: &str| rpassword::prompt_password(question);
        let prompt: Option<cluster::PasswordPrompt<'_>> =
            std::io::stdin().is_terminal().then_some(&ask as _);
        let options = self.client_options();
        let mut connect = |profile: &str| -> Result<Client, String> {
            let flags = ConnectionFlags {
                profile: Some(profile.to_string()),
                insecure: self.insecure,
                allow_http: self.allow_http,
                ..ConnectionFlags::default()
            };
            let labelled: Arc<dyn Listener> =
                Arc::new(rmpack::listener::Prefixed::new(profile, listener.clone()));
            let settings = cluster::resolve(&flags, &env, prompt, labelled.as_ref())
                .map_err(|e| e.to_string())?;
            Client::new(&settings, options.clone(), labelled).map_err(|e| e.to_string())
        };
        rmpack::rollout::fleet::members(name, &spec, only, &mut connect)
            .map_err(|e| rollout_failure(e, "cannot pick the clusters"))
    }

    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            request_timeout: Duration::from_secs(self.timeout.max(1)),
            retry: RetryPolicy {
                max_attempts: self.retries,
                ..RetryPolicy::default()
            },
            ..ClientOptions::default()
        }
    }
}

/// Prints a rollout's outcome (text, or `--json`) on stdout and gives the exit status it earns.
pub fn report_outcome(outcome: &rmpack::rollout::Outcome, json: bool) -> super::Status {
    if json {
        print!(
            "{}",
            rmpack::report::json_pretty(&rmpack::report::outcome_json(outcome))
        );
    } else {
        print!(
            "{}",
            rmpack::report::outcome(outcome, super::ui::stdout_style())
        );
    }
    super::Status::of(outcome)
}

/// Runs a fleet plan (or prints it with `--dry-run`) and reports it: text or `--json` on
/// stdout, each refusing cluster's findings included.
pub fn report_fleet<P: rmpack::rollout::fleet::ClusterPlan>(
    plan: &rmpack::rollout::fleet::FleetPlan<P>,
    dry_run: bool,
    json: bool,
) -> super::Status {
    let outcome = if dry_run || !plan.is_ready() {
        plan.as_outcome()
    } else {
        let _deferred = rmpack::interrupt::defer_stop();
        plan.execute(&rmpack::interrupt::stop_requested)
    };
    if json {
        print!(
            "{}",
            rmpack::report::json_pretty(&rmpack::report::fleet_outcome_json(&outcome))
        );
    } else {
        let style = super::ui::stdout_style();
        print!("{}", rmpack::report::fleet_outcome(&outcome, style));
    }
    if outcome.refused() {
        super::Status::Failure
    } else {
        super::Status::of_fleet(&outcome)
    }
}

/// A refused plan: every report with a finding on stderr, then exit 1 (nothing was sent).
pub fn refusal_failure(refusal: &rmpack::rollout::Refusal) -> anyhow::Error {
    let style = rmpack::report::Style {
        color: std::io::stderr().is_terminal(),
    };
    for report in refusal.reports.iter().filter(|r| !r.diagnostics.is_empty()) {
        eprint!("{}", rmpack::report::human(report, style));
    }
    anyhow::Error::new(CheckFailed(refusal.to_string()))
}

/// Wraps a rollout error for `anyhow`: refusals by the cluster or the pre-flight exit 1, bad
/// input exits 2.
pub fn rollout_failure(error: RolloutError, what: &str) -> anyhow::Error {
    match error {
        RolloutError::Preflight(refusal) => refusal_failure(&refusal),
        RolloutError::Cluster(error) => cluster_failure(error, what),
        error @ RolloutError::Input { .. } => anyhow::Error::new(error),
        error => anyhow::Error::new(CheckFailed(error.to_string())).context(what.to_string()),
    }
}

/// The words of this command line that reach the cluster again (`--cluster URL --ca-cert PEM`
/// …), unquoted, for commands printed to resume or heal (quote them with
/// [`rmpack::text::command_line`]); never the password.
pub fn cluster_words() -> Vec<String> {
    let mut words = Vec::new();
    let mut args = std::env::args_os()
        .skip(1)
        .map(|arg| arg.to_string_lossy().into_owned());
    let with_value = [
        "--cluster",
        "--user",
        "--profile",
        "--ca-cert",
        "--timeout",
        "--retries",
    ];
    while let Some(arg) = args.next() {
        if with_value.contains(&arg.as_str()) {
            if let Some(value) = args.next() {
                words.push(arg);
                words.push(value);
            }
        } else if with_value.iter().any(|f| arg.starts_with(&format!("{f}=")))
            || arg == "--insecure"
            || arg == "--allow-http"
        {
            words.push(arg);
        }
    }
    words
}

/// Checks a uid given on the command line (`--db`, `--nodes`, a module uid): a plain token, as
/// the cluster's own uids are, so it can go into a REST path and a printed command unchanged.
pub fn plain_uid(text: &str) -> Result<String, String> {
    rmpack::cluster::Uid::parse(text).map(|uid| uid.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_on_the_command_line_are_plain_tokens() {
        assert_eq!(plain_uid("12").unwrap(), "12");
        assert_eq!(plain_uid("a1b2-c3:d.e_f").unwrap(), "a1b2-c3:d.e_f");
        for bad in ["1;touch${IFS}pwned", "..", "", "a b", "1\u{1b}[2J", "x/y"] {
            let error = plain_uid(bad).unwrap_err();
            assert!(error.contains("uid"), "{bad:?}: {error}");
        }
        assert!(plain_uid("..").unwrap_err().contains("refusing"));
    }
}
