//! rmpack: pack, validate and roll out Redis modules for Redis Enterprise Software (RS).
//!
//! The pipeline runs one way, stage by stage:
//!
//! ```text
//!  .so ──► elf::ElfFacts ─┐
//!  manifest, flags ───────┼─► manifest::ModuleJson ──► pack::BundleWriter ──► module zip
//!  redis-server ──► discover::Discovered ─┘                                       │
//!                                                                                  ▼
//!                       validate::Target ──► validate::check(bundle, target) ──► Report
//!                       cluster::Client  ──► rollout::plan → execute        ──► per-node results
//! ```
//!
//! * [`manifest`] and [`elf`] are the vocabulary: the `module.json` model and the facts read from a
//!   module's ELF header.
//! * [`discover`] loads a module into a throw-away `redis-server` and reads its commands.
//! * [`pack`] writes the reproducible zip; [`bundle`] opens one safely.
//! * [`validate`] predicts the error codes RS would answer with; it never talks to a cluster.
//! * [`diff`] compares two releases of a module: what an upgrade adds, removes and breaks.
//! * [`release`] holds RS's rules for which build a database and a node may take.
//! * [`cluster`] is the RS REST client; [`rollout`] makes every cluster change as plan (GET
//!   requests, the validator on the live target) → execute → verify: upload, upgrade, artifacts,
//!   status.
//! * [`text`] shows text from zips, modules and servers with control characters escaped.
//! * [`report`] renders diagnostics, diffs, rollouts and status as text, JSON or CI annotations.
//!
//! The library never prints: progress and warnings go through a [`Listener`].

pub mod bundle;
pub mod cluster;
pub mod diff;
pub mod discover;
pub mod elf;
pub mod input;
pub mod interrupt;
pub mod listener;
pub mod manifest;
pub mod pack;
pub mod release;
pub mod report;
pub mod rollout;
pub mod text;
pub mod validate;

pub use bundle::Bundle;
pub use discover::{discover, Discovered};
pub use elf::ElfFacts;
pub use listener::{Listener, Recorder, Silent};
pub use manifest::{ManifestInput, ModuleJson};
pub use pack::{pack, PackOptions, Packed};
pub use validate::{Diagnostic, Report, Target};
