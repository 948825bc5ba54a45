//! Dependency archives: each `deps/<name>.tgz` passes the checks `unpack` applies (and RS's
//! unpacker, which answers `invalid_dependency_data`), so a hostile archive never reaches a node.

use super::rules::*;
use super::Ctx;
use crate::bundle::{ReadProblem, TarProblem};

/// Reports what the reader found inside each dependency archive (zips and folders).
pub(crate) fn check(ctx: &mut Ctx<'_>) {
    for problem in &ctx.bundle.problems {
        let ReadProblem::Dependency { entry, problem } = problem else {
            continue;
        };
        let rule = match problem {
            TarProblem::NotGzip { .. } => &DEPENDENCY_NOT_GZIP,
            TarProblem::Damaged { .. } => &DEPENDENCY_DAMAGED,
            TarProblem::UnsafePath { .. } => &DEPENDENCY_UNSAFE_PATH,
            TarProblem::Link { .. } => &DEPENDENCY_LINK,
            TarProblem::SpecialFile { .. } => &DEPENDENCY_SPECIAL_FILE,
            TarProblem::Duplicate { .. } => &DEPENDENCY_DUPLICATE,
            TarProblem::TooManyEntries { .. } | TarProblem::TooLarge { .. } => {
                &DEPENDENCY_TOO_LARGE
            }
        };
        let finding = rule
            .finding(format!("dependency archive `{entry}`: {problem}"))
            .at(entry.clone());
        ctx.out.push(finding);
    }
}
