//! `changerisk export`: scores every change of a history with a saved model and writes
//! the result for analysts: the scored changes and side tables in Parquet, Arrow IPC
//! or CSV, and a starter notebook (see docs/export.md).

use std::path::PathBuf;

use super::Inputs;
use crate::analysis::score_history;
use crate::cli::ExportArgs;
use crate::error::{Error, Result};
use crate::export::{write_export, ExportFormat};
use crate::policy::Policies;
use crate::progress::Progress;

/// Resolved `export` settings.
pub struct ExportSettings {
    pub model: PathBuf,
    pub inputs: Inputs,
    pub output: PathBuf,
    pub format: ExportFormat,
    pub policy: Option<PathBuf>,
}

impl ExportSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: ExportArgs) -> Result<ExportSettings> {
        let ExportArgs {
            model,
            input,
            output,
            format,
            policy,
        } = args;
        // A file, a device (`/dev/null`) or a pipe: anything there but a directory.
        if output.exists() && !output.is_dir() {
            return Err(Error::Usage(format!(
                "--output {} is not a directory; export writes a directory of tables",
                output.display()
            )));
        }
        Ok(ExportSettings {
            model,
            inputs: Inputs::resolve(input)?,
            output,
            format,
            policy,
        })
    }
}

/// Runs `export`.
pub fn run(args: ExportArgs, progress: &Progress) -> Result<u8> {
    let mut s = ExportSettings::resolve(args)?;
    let (model, inputs) = s
        .inputs
        .with_model(&s.model, s.policy.as_deref(), progress)?;
    let tables = crate::export::TABLES.map(|t| format!("{t}.{}", s.format.extension()));
    for name in tables
        .iter()
        .map(String::as_str)
        .chain([crate::export::NOTEBOOK])
    {
        crate::output::check_not_an_input("--output", &s.output.join(name), &inputs)?;
    }
    let policies = Policies::from_flag(s.policy.as_deref())?;
    let history = score_history(&model, &s.inputs, &policies, progress, true)?;
    progress.log(&history.label_summary.describe());
    progress.stage("writing the export");
    let written = write_export(&model, &history, &s.output, s.format)?;
    let files: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    progress.log(&format!(
        "exported {} scored changes ({} labelled incident-causing):\n  {}",
        history.len(),
        history.labels.iter().filter(|&&l| l).count(),
        files.join("\n  ")
    ));
    Ok(0)
}
