//! Following an asynchronous action to its end.

use std::time::{Duration, Instant};

use super::client::Client;
use super::types::{Action, ActionStatus};
use super::ClusterError;

/// How to poll an action.
#[derive(Debug, Clone)]
pub struct PollOptions {
    /// Time between polls.
    pub interval: Duration,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// How a followed action ended, with every status it went through.
#[derive(Debug, Clone)]
pub struct ActionOutcome {
    /// The last state polled (terminal).
    pub action: Action,
    /// The distinct statuses seen, in order (e.g. queued, running, completed).
    pub statuses: Vec<ActionStatus>,
}

impl ActionOutcome {
    /// `action queued → running → completed`, for a step's details.
    pub fn path(&self) -> String {
        let statuses: Vec<String> = self.statuses.iter().map(ToString::to_string).collect();
        format!("action {}", statuses.join(" → "))
    }
}

impl Client {
    /// `GET /v1/actions`: every action the cluster knows, running or ended.
    pub fn actions(&self) -> Result<Vec<Action>, ClusterError> {
        #[derive(serde::Deserialize)]
        struct Actions {
            #[serde(default)]
            actions: Vec<Action>,
        }
        let listed: Actions = self.get("/v1/actions")?;
        Ok(listed.actions)
    }

    /// Polls `GET /v1/actions/{uid}` until the action is completed, failed, cancelled or aborted.
    ///
    /// Progress goes to the listener under the task `action {uid}` (0–100). A completed action is
    /// `Ok`; a failed, cancelled or aborted one is [`ClusterError::ActionFailed`] with the
    /// server's `error_code` and message; an unknown uid is [`ClusterError::UnknownAction`].
    pub fn follow_action(
        &self,
        uid: &str,
        options: &PollOptions,
    ) -> Result<ActionOutcome, ClusterError> {
        self.follow_action_until(uid, options, &|| false)
    }

    /// [`Client::follow_action`] that also stops following when `stop` says so (a signal): then
    /// [`ClusterError::ActionLeftRunning`], with the status it had; the action goes on.
    pub fn follow_action_until(
        &self,
        uid: &str,
        options: &PollOptions,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<ActionOutcome, ClusterError> {
        // The uid came in an answer: it becomes a path and a progress task only as a plain token.
        if !super::Uid::is_plain(uid) {
            return Err(ClusterError::BadResponse {
                method: "GET",
                url: self.base().origin(),
                detail: format!(
                    "the action uid `{}` is not a uid (letters, digits, `-`, `_`, `.`, `:`)",
                    crate::text::cut(uid).escape_debug()
                ),
            });
        }
        let started = Instant::now();
        let task = format!("action {uid}");
        let mut statuses: Vec<ActionStatus> = Vec::new();
        loop {
            let action = self.action(uid)?;
            if statuses.last() != Some(&action.status) {
                self.listener()
                    .on_status(&format!("{task}: {}", action.status));
                statuses.push(action.status.clone());
            }
            if let Some(progress) = action.progress {
                let done = progress.clamp(0.0, 100.0).round() as u64;
                self.listener().on_percent(&task, done);
            }
            if action.status.is_terminal() {
                if action.status == ActionStatus::Completed {
                    return Ok(ActionOutcome { action, statuses });
                }
                // Server text reaches the terminal: escape sequences in it are shown, not run.
                return Err(ClusterError::ActionFailed {
                    uid: uid.to_string(),
                    status: action.status,
                    error_code: action
                        .error_code
                        .as_deref()
                        .map(|t| crate::text::sanitize(t).into_owned()),
                    message: action
                        .error_message
                        .as_deref()
                        .map(|t| crate::text::sanitize(t).into_owned()),
                });
            }
            if stop() {
                return Err(ClusterError::ActionLeftRunning {
                    uid: uid.to_string(),
                    status: action.status,
                });
            }
            if started.elapsed() >= options.timeout {
                return Err(ClusterError::ActionTimeout {
                    uid: uid.to_string(),
                    status: action.status,
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(options.interval);
        }
    }
}
