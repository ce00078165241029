//! `changerisk generate`: writes a synthetic history to a directory.

use crate::cli::GenerateArgs;
use crate::error::{Error, Result};
use crate::generate::{generate, write_files, GenerateParams};
use crate::progress::Progress;

/// Longest history `generate` writes: 100 years from 2024 keeps every timestamp a
/// four-digit-year RFC 3339 time that the loaders read back.
const MAX_DAYS: u32 = 36_500;

/// Most changes (labelled, and new, each) `generate` writes: about 0.3 kB of memory
/// each while generating (measured: 604 MB for 1M + 1M with `--truth`), so the most
/// both allow, 10M + 10M, needs about 6-7 GB.
const MAX_CHANGES: usize = 10_000_000;

/// Runs `generate`.
pub fn run(args: GenerateArgs, progress: &Progress) -> Result<u8> {
    let GenerateArgs {
        seed,
        changes,
        new_changes,
        days,
        output_dir,
        truth,
    } = args;
    if !(1..=MAX_CHANGES).contains(&changes) || new_changes > MAX_CHANGES {
        return Err(Error::Usage(format!(
            "--changes must be 1..={MAX_CHANGES} and --new-changes at most {MAX_CHANGES}, got {changes} and {new_changes}"
        )));
    }
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::Usage(format!(
            "--days must be 1..={MAX_DAYS}, got {days}"
        )));
    }
    // New changes continue the history at its pace, so their days count too (roughly:
    // the pace's weekly rhythm and growth are left out; the limit is far from year 9999).
    let total = f64::from(days) * (1.0 + new_changes as f64 / changes as f64);
    if total > f64::from(MAX_DAYS) {
        return Err(Error::Usage(format!(
            "--days {days} with {new_changes} new changes after {changes} spans about {total:.1} \
             days (new changes keep the history's pace); the whole must stay within {MAX_DAYS}"
        )));
    }
    let params = GenerateParams {
        seed,
        changes,
        new_changes,
        days,
        ..GenerateParams::default()
    };
    progress.stage("generating history");
    let history = generate(&params);
    let paths = write_files(&history, &output_dir, truth)?;
    progress.log(&format!(
        "wrote {} changes, {} incidents and {} new changes (seed {seed}){}: {}",
        history.changes.len(),
        history.incidents.len(),
        history.new_changes.len(),
        if truth { " and their true risks" } else { "" },
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(0)
}
