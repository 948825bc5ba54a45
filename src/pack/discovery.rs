//! Stand-in for `crate::discover` until it is available in this build: the same signature, and a
//! refusal that points at `--no-discover`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::manifest::{Command, ModuleVersion};
use crate::Listener;

/// How to run discovery.
#[derive(Debug, Clone)]
pub struct DiscoverOptions {
    /// The redis-server to use.
    pub redis_server: Option<PathBuf>,
    /// Arguments passed to `MODULE LOAD`.
    pub module_args: Vec<String>,
    /// How long to wait for the server.
    pub timeout: Duration,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            redis_server: None,
            module_args: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// What loading the module showed.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Name from `MODULE LIST`.
    pub module_name: String,
    /// Version from `MODULE LIST`.
    pub version: ModuleVersion,
    /// The module's commands.
    pub commands: Vec<Command>,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// Discovery is not part of this build.
    #[error("command discovery is not available in this build; give module_name, version and commands in a manifest and use --no-discover")]
    Unavailable,
}

/// Loads `module` into a throw-away redis-server and reports its name, version and commands.
pub fn discover(
    module: &Path,
    options: &DiscoverOptions,
    listener: &dyn Listener,
) -> Result<Discovered, DiscoverError> {
    let _ = (module, options, listener);
    Err(DiscoverError::Unavailable)
}
