//! The one shape of every rollout's result: a list of steps (a registration, an artifact on a
//! node, a database upgrade, a delete), each in one [`StepState`], with the command that resumes
//! from where the rollout stopped. Upload, upgrade, deletes and fleets all report in it, so the
//! CLI renders one shape and a fleet composes its clusters' outcomes; a refused plan is one
//! [`Refusal`] carrying the validator's findings.

use std::time::Duration;

use serde::Serialize;

use crate::validate::{Report, Severity};

/// The `version` of the rollout JSON (`schema/rollout.schema.json`).
pub const ROLLOUT_JSON_VERSION: u64 = 1;

/// What a rollout does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// `rmpack upload`.
    Upload,
    /// `rmpack upgrade`.
    Upgrade,
    /// `rmpack modules delete`, `rmpack artifacts delete`.
    Delete,
}

impl Operation {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Upgrade => "upgrade",
            Operation::Delete => "delete",
        }
    }
}

/// What one step changes on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// `POST /v2/modules/user-defined`: a module version's configuration.
    Register,
    /// `POST /v2/local/modules/user-defined/artifacts` on one node.
    Artifact,
    /// `POST /v2/modules`: the bundled zip, for the whole cluster.
    BundledUpload,
    /// `POST /v1/bdbs/{uid}/upgrade`.
    DatabaseUpgrade,
    /// `DELETE` of an artifact on one node.
    DeleteArtifact,
    /// `DELETE` of a module (configuration).
    DeleteModule,
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// In a plan (`--dry-run`): would be done.
    Planned,
    /// Done by this run, and read back.
    Done,
    /// Already so on the cluster: nothing was sent.
    AlreadyDone,
    /// Refused or failed; nothing changed by it (see `error`).
    Failed,
    /// Sent, and its answer lost: the cluster may have done it. Read it back before sending it
    /// again.
    Unknown,
    /// Started by the cluster and still running (see `action`).
    InFlight,
    /// Not started: the run stopped before it.
    NotStarted,
    /// Done by this run, then undone.
    RolledBack,
}

impl StepState {
    /// Whether the step's change is in place (or, in a plan, would be).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            StepState::Done | StepState::AlreadyDone | StepState::Planned
        )
    }
}

/// The word a table shows for `state` of a step of `kind`.
pub fn state_label(kind: StepKind, state: StepState) -> &'static str {
    use StepKind as K;
    use StepState as S;
    match (kind, state) {
        (K::Register, S::Done) => "registered",
        (K::Register, S::AlreadyDone) => "already registered",
        (K::Register, S::Planned) => "would register",
        (K::Artifact | K::BundledUpload, S::Done) => "uploaded",
        (K::Artifact | K::BundledUpload, S::AlreadyDone) => "already present",
        (K::Artifact | K::BundledUpload, S::Planned) => "would upload",
        (K::DatabaseUpgrade, S::Done) => "upgraded",
        (K::DatabaseUpgrade, S::AlreadyDone) => "already current",
        (K::DatabaseUpgrade, S::Planned) => "would upgrade",
        (K::DeleteArtifact | K::DeleteModule, S::Done) => "deleted",
        (K::DeleteArtifact | K::DeleteModule, S::AlreadyDone) => "absent",
        (K::DeleteArtifact | K::DeleteModule, S::Planned) => "would delete",
        (_, S::Failed) => "FAILED",
        (_, S::Unknown) => "UNKNOWN",
        (_, S::InFlight) => "IN FLIGHT",
        (_, S::NotStarted) => "not started",
        (_, S::RolledBack) => "rolled back",
    }
}

/// One step of a rollout.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What it changes.
    pub kind: StepKind,
    /// What it acts on: `node 2`, `database 1`, `cluster`.
    pub target: String,
    /// The address used, for a node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// What it puts there: `hello 1.2.3 (hello.Linux-rhel8-x86_64.1.2.3.zip)`, `hello 1.2.2 →
    /// 1.2.3, Redis 7.2 (kept)`.
    pub subject: String,
    /// Where it stands.
    pub state: StepState,
    /// Why it failed, or what is not known.
    pub error: Option<String>,
    /// The action tracking it on the cluster, when there is one.
    pub action: Option<String>,
    /// More lines about it (the action's statuses, what a read-back found).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Bytes this run sent for it.
    pub bytes: u64,
    /// Time spent on it.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

impl Step {
    /// A step in `state` with nothing else known yet.
    pub fn new(kind: StepKind, target: impl Into<String>, subject: impl Into<String>) -> Step {
        Step {
            kind,
            target: target.into(),
            address: None,
            subject: subject.into(),
            state: StepState::NotStarted,
            error: None,
            action: None,
            details: Vec::new(),
            bytes: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// The same step at `address`.
    pub fn at(mut self, address: impl Into<String>) -> Step {
        self.address = Some(address.into());
        self
    }

    /// The same step in `state`.
    pub fn with_state(mut self, state: StepState) -> Step {
        self.state = state;
        self
    }

    /// Marks it failed with `error`.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.state = StepState::Failed;
        self.error = Some(error.into());
    }

    /// The word for its state.
    pub fn label(&self) -> &'static str {
        state_label(self.kind, self.state)
    }
}

/// A command that resumes a rollout where it stopped: this run's command line, the selection
/// flags replaced by what is left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Resume(pub String);

/// The words of a command line without its selection (`--nodes`, `--db`, `--all`, `--clusters`):
/// what a [`Resume`] is built from. The CLI gives it (never with a password).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResumeBase {
    /// `rmpack`, the subcommand and every flag that reaches the same cluster and the same work.
    pub words: Vec<String>,
    /// How many leading words name the command (`rmpack upgrade`: 2); the selection goes
    /// right after them.
    pub command_words: usize,
}

impl ResumeBase {
    /// The words of a command line (`args`, the program's own name first) without the flags
    /// in `drop_valued` (with their values), those in `drop` (switches), and never a password:
    /// the command line a resume repeats, before its new selection.
    pub fn from_args(
        args: impl IntoIterator<Item = String>,
        command_words: usize,
        drop_valued: &[&str],
        drop: &[&str],
    ) -> ResumeBase {
        let mut words = vec!["rmpack".to_string()];
        let mut args = args.into_iter().skip(1);
        let valued = |arg: &str| arg == "--password" || drop_valued.contains(&arg);
        while let Some(arg) = args.next() {
            if valued(&arg) {
                args.next();
                continue;
            }
            let (flag, _) = arg.split_once('=').unwrap_or((arg.as_str(), ""));
            if arg.contains('=') && valued(flag) {
                continue;
            }
            if drop.contains(&arg.as_str()) {
                continue;
            }
            words.push(arg);
        }
        ResumeBase {
            words,
            command_words,
        }
    }

    /// The command with `selection` (flag and value pairs) appended, each word quoted for a
    /// POSIX shell.
    pub fn with(&self, selection: &[(&str, String)]) -> Resume {
        let at = self.command_words.min(self.words.len());
        let mut words = self.words[..at].to_vec();
        for (flag, value) in selection {
            words.push((*flag).to_string());
            words.push(value.clone());
        }
        words.extend_from_slice(&self.words[at..]);
        Resume(crate::text::command_line(words))
    }
}

/// The result of a rollout on one cluster, executed or planned.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The JSON format's version.
    pub version: u64,
    /// What the rollout does.
    pub operation: Operation,
    /// The cluster (its URL, or a fleet's profile name and URL).
    pub cluster: String,
    /// A plan (`--dry-run`, GET requests only), not an executed rollout.
    pub dry_run: bool,
    /// The run was interrupted (SIGINT, SIGTERM, SIGHUP) and stopped early.
    pub interrupted: bool,
    /// Every step, in the order it is done.
    pub steps: Vec<Step>,
    /// Facts worth knowing (the upload flow, pre-flight warnings).
    pub notes: Vec<String>,
    /// The changing requests the rollout sends (in a plan: would send), in order.
    pub requests: Vec<super::PlannedRequest>,
    /// The command that resumes from here, when something is left and resuming can help.
    pub resume_command: Option<Resume>,
}

impl Outcome {
    /// An empty outcome of `operation` on `cluster`.
    pub fn new(operation: Operation, cluster: impl Into<String>) -> Outcome {
        Outcome {
            version: ROLLOUT_JSON_VERSION,
            operation,
            cluster: cluster.into(),
            dry_run: false,
            interrupted: false,
            steps: Vec::new(),
            notes: Vec::new(),
            requests: Vec::new(),
            resume_command: None,
        }
    }

    /// Whether every step is in place (or, in a plan, would be).
    pub fn is_complete(&self) -> bool {
        self.steps.iter().all(|s| s.state.is_settled())
    }

    /// Whether this run changed the cluster (or may have: an unknown or in-flight step).
    pub fn changed_anything(&self) -> bool {
        !self.dry_run
            && self.steps.iter().any(|s| {
                matches!(
                    s.state,
                    StepState::Done
                        | StepState::RolledBack
                        | StepState::Unknown
                        | StepState::InFlight
                )
            })
    }

    /// Steps that are not in place.
    pub fn unfinished(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| !s.state.is_settled())
    }

    /// How many steps are in each state, for the closing line.
    pub fn count(&self, state: StepState) -> usize {
        self.steps.iter().filter(|s| s.state == state).count()
    }
}

/// Why a rollout did not start: the pre-flight's findings, one report per subject (a zip, a
/// database, the cluster). Nothing was sent.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    /// The cluster.
    pub cluster: String,
    /// The findings, per subject.
    pub reports: Vec<Report>,
}

impl Refusal {
    /// A refusal with the findings of `reports`.
    pub fn new(cluster: impl Into<String>, reports: Vec<Report>) -> Refusal {
        Refusal {
            cluster: cluster.into(),
            reports,
        }
    }

    /// How many findings are errors.
    pub fn errors(&self) -> usize {
        self.reports
            .iter()
            .flat_map(|r| &r.diagnostics)
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// The subjects refused, for one line.
    pub fn subjects(&self) -> String {
        self.reports
            .iter()
            .filter(|r| r.failed(false))
            .map(|r| r.subject.clone())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the pre-flight against {} refused {} with {} error(s); nothing was sent to the cluster",
            self.cluster,
            self.subjects(),
            self.errors()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_is_complete_only_when_every_step_is_in_place() {
        let mut outcome = Outcome::new(Operation::Upload, "https://c:9443");
        outcome.steps.push(
            Step::new(StepKind::Artifact, "node 1", "hello 1.2.3").with_state(StepState::Done),
        );
        outcome.steps.push(
            Step::new(StepKind::Artifact, "node 2", "hello 1.2.3")
                .with_state(StepState::AlreadyDone),
        );
        assert!(outcome.is_complete());
        assert!(outcome.changed_anything());
        outcome.steps[1].state = StepState::Unknown;
        assert!(!outcome.is_complete());
        assert_eq!(outcome.unfinished().count(), 1);
        outcome.dry_run = true;
        assert!(!outcome.changed_anything(), "a plan changes nothing");
    }

    #[test]
    fn a_resume_base_drops_the_selection_the_output_format_and_the_password() {
        let args = [
            "/usr/bin/rmpack",
            "upload",
            "a.zip",
            "--nodes",
            "1,2",
            "--password",
            "pw",
            "--password=pw2",
            "--nodes=3",
            "--json",
            "--cluster",
            "https://c:9443",
        ]
        .map(String::from);
        let base = ResumeBase::from_args(args, 2, &["--nodes"], &["--json"]);
        assert_eq!(
            base.words,
            ["rmpack", "upload", "a.zip", "--cluster", "https://c:9443"]
        );
    }

    #[test]
    fn a_resume_command_quotes_every_word() {
        let base = ResumeBase {
            words: vec!["rmpack".into(), "upload".into(), "dist dir".into()],
            command_words: 2,
        };
        assert_eq!(
            base.with(&[("--nodes", "2;rm -rf /".into())]).0,
            "rmpack upload --nodes '2;rm -rf /' 'dist dir'"
        );
    }
}
