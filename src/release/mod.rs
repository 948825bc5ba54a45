//! Releases: RS's rules for which build a database and a node may take, and a release as RS
//! sees it, a set of zips.
//!
//! * [`fit`]: one set of functions that `validate`, `upload`, `upgrade` and `status` all call.
//!   A database takes a build by its Redis version (RS's `is_redis_version_compatible()`): a
//!   build that declares `compatible_redis_version` fits only a database whose Redis
//!   major.minor equals it; a build without it fits when `min_redis_version` is not above the
//!   database's Redis and has the same major version ([`Build::fits_redis`]). When an upgrade
//!   names no version, RS gives each module the highest semantic version among the builds that
//!   fit the database (`get_latest_allowed_module()`, [`latest_fitting`]). A node takes an
//!   artifact built for its own architecture and OS, compared by distro and major version
//!   (`_verify_module_os_compatibility()`, [`Build::runs_on`]).
//! * [`set`]: a [`ReleaseSet`], the zips of one release: one module, several versions (one per
//!   Redis feature set), each built per OS and architecture; its coverage matrix and checksums.
//! * [`provision`]: the configurations that let nodes download a set themselves: RS's bootstrap
//!   `user_defined_modules` and the Kubernetes REC's `spec.userDefinedModules`.

pub mod fit;
pub mod provision;
pub mod set;

pub use fit::{
    latest_fitting, platform_label, redis_fit, Build, PlatformMisfit, RedisFit, RedisMisfit,
};
pub use set::{
    checksums_text, collect_inputs, feature_set_label, open_set, parse_checksums, relative_name,
    write_checksums, Matrix, MatrixRow, ReleaseSet, SetError, SetInputs, SetMember, MAX_SET_ZIPS,
    NO_FEATURE_SET,
};
