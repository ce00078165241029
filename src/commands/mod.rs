//! One module per command: each resolves its arguments into validated settings and runs.

pub mod annotate;
pub mod config;
pub mod drift;
pub mod evaluate;
pub mod export;
pub mod generate;
pub mod report;
pub mod score;
pub mod sql;
pub mod train;

use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, InputArgs, LabelArgs, LearnerArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::label::{parse_duration, LabelParams};
use crate::load::{load_changes, load_incidents, Changes, Incidents, Read};
use crate::model::LearnerParams;
use crate::progress::Progress;

/// Runs the parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let progress = Progress::new(cli.quiet);
    match cli.command {
        Command::Generate(args) => generate::run(args, &progress),
        Command::Train(args) => train::run(args, &progress),
        Command::Score(args) => score::run(args, &progress),
        Command::Evaluate(args) => evaluate::run(args, &progress),
        Command::Config(args) => config::run(args),
        Command::Annotate(args) => annotate::run(*args, &progress),
        Command::Report(args) => report::run(args, &progress),
        Command::Export(args) => export::run(args, &progress),
        Command::Drift(args) => drift::run(args, &progress),
        Command::Sql(args) => sql::run(args),
    }
}

/// The files a command reads, each with what it is (for
/// [`crate::output::check_not_an_input`]).
pub type ReadFiles<'a> = Vec<(&'static str, Option<&'a Path>)>;

/// The history to learn from: where it is and how to read it.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub changes: PathBuf,
    /// `None` when the config's label column gives the labels.
    pub incidents: Option<PathBuf>,
    pub config: Config,
    /// `--incidents` was given (else `incidents` is the shipped [`SHIPPED_INCIDENTS`],
    /// right for the shipped [`SHIPPED_CHANGES`] only: [`Inputs::incidents`]).
    pub incidents_given: bool,
    /// The `--config` file `config` was read from (else the contract's, or the model's
    /// own: [`Inputs::follow_model`]).
    pub config_file: Option<PathBuf>,
}

/// The shipped history the commands read without flags.
pub const SHIPPED_CHANGES: &str = "data/changes.csv";
/// The shipped history's incidents.
pub const SHIPPED_INCIDENTS: &str = "data/incidents.csv";

impl Inputs {
    /// Resolves `--changes`, `--incidents` and `--config`.
    pub fn resolve(args: InputArgs) -> Result<Inputs> {
        let InputArgs {
            changes,
            incidents,
            config,
        } = args;
        crate::output::check_one_reader(&[
            ("changes file", Some(&changes)),
            ("incidents file", incidents.as_deref()),
        ])?;
        let config_file = config;
        let config = match &config_file {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let incidents_given = incidents.is_some();
        let incidents = match (&config.columns.label, incidents) {
            (Some(label), Some(path)) => {
                return Err(Error::Usage(format!(
                    "the config takes labels from the column '{label}', so it cannot also use the incidents file {}; drop --incidents or the label",
                    path.display()
                )))
            }
            (Some(_), None) => None,
            (None, given) => Some(given.unwrap_or_else(|| PathBuf::from(SHIPPED_INCIDENTS))),
        };
        Ok(Inputs {
            changes,
            incidents,
            config,
            incidents_given,
            config_file,
        })
    }

    /// The incidents file to read, if any. The shipped incidents are only taken by default
    /// for the shipped changes: another changes file's labels would come from incidents
    /// of someone else's services, silently wrong.
    pub fn incidents(&self) -> Result<Option<&Path>> {
        match &self.incidents {
            Some(_)
                if !self.incidents_given
                    && !crate::output::same_file(&self.changes, Path::new(SHIPPED_CHANGES)) =>
            {
                Err(Error::Usage(format!(
                    "{} needs its incidents: give --incidents (the default {SHIPPED_INCIDENTS} belongs to the shipped {SHIPPED_CHANGES}), or name the changes' label column in a --config",
                    self.changes.display()
                )))
            }
            incidents => Ok(incidents.as_deref()),
        }
    }

    /// Without `--config`, the files are read as `model` was trained: with its config,
    /// and without an incidents file when that config takes labels from a column (an
    /// error if `--incidents` was given).
    pub fn follow_model(&mut self, model: &crate::model::Model) -> Result<()> {
        if self.config_file.is_some() {
            return Ok(());
        }
        self.config = model.config.clone();
        if let Some(label) = &model.config.columns.label {
            if self.incidents_given {
                return Err(Error::Usage(format!(
                    "the model takes labels from the column '{label}', so it uses no incidents file; drop --incidents"
                )));
            }
            self.incidents = None;
        }
        Ok(())
    }

    /// Loads the model at `model` that a command reading a history with it (`export`,
    /// `report`) applies, points these inputs at it ([`Inputs::follow_model`]), and
    /// lists every file the command reads, the model and `policy` included (for
    /// [`crate::output::check_not_an_input`]).
    pub fn with_model<'a>(
        &'a mut self,
        model: &'a Path,
        policy: Option<&'a Path>,
        progress: &Progress,
    ) -> Result<(crate::model::Model, ReadFiles<'a>)> {
        progress.stage("loading model");
        let loaded = crate::model::Model::load(model)?;
        if let Some(config) = &self.config_file {
            // Checked before anything is read or trained.
            if let Some(unread) = loaded.unreadable_input(&self.config) {
                return Err(Error::Data(format!(
                    "{}: the model's {unread}, but the config {} {}: the model was trained with another config (give --model a model trained with this one, or drop --config to read the changes with the model's own)",
                    model.display(),
                    config.display(),
                    unread.loaded
                )));
            }
        }
        self.follow_model(&loaded)?;
        let mut read = vec![("model", Some(model)), ("policy file", policy)];
        read.extend(self.files());
        Ok((loaded, read))
    }

    /// The files these inputs read, each with what it is (for [`crate::output::check_not_an_input`]).
    pub fn files(&self) -> [(&'static str, Option<&Path>); 3] {
        [
            ("changes file", Some(self.changes.as_path())),
            ("incidents file", self.incidents.as_deref()),
            ("config", self.config_file.as_deref()),
        ]
    }

    /// Loads the changes (with labels, if the config names them) and the incidents.
    pub fn load(&self, progress: &Progress) -> Result<(Changes, Incidents)> {
        let incidents_path = self.incidents()?;
        progress.stage("loading changes");
        let changes = load_changes(&self.changes, &self.config, Read::Labelled)?.changes;
        progress.stage("loading incidents");
        let incidents = match incidents_path {
            Some(path) => load_incidents(path)?,
            None => Incidents::default(),
        };
        Ok((changes, incidents))
    }
}

/// Refuses `--history` without `--incidents` for a model that links incidents (no label
/// column): its history features would count no incident, silently lowering risks.
pub(crate) fn check_history_has_incidents(
    history: Option<&Path>,
    incidents: Option<&Path>,
    model: &crate::model::Model,
) -> Result<()> {
    match (history, incidents, &model.config.columns.label) {
        (Some(history), None, None) => Err(Error::Usage(format!(
            "--history {} needs --incidents too: which past changes caused incidents is part of the history features (a file with only the header when there were none)",
            history.display()
        ))),
        _ => Ok(()),
    }
}

/// Writes data to stdout with a final newline. A closed pipe (`| head`) surfaces as an
/// I/O error that the binary treats as success.
pub(crate) fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("stdout", e))
}

/// Resolves `--attribution-window` and `--max-severity`.
pub(crate) fn label_params(args: LabelArgs) -> Result<LabelParams> {
    let LabelArgs {
        attribution_window,
        max_severity,
    } = args;
    let attribution_window_secs = parse_duration(&attribution_window).ok_or_else(|| {
        Error::Usage(format!(
            "--attribution-window {attribution_window:?} is not a duration such as 24h, 90m or 2d (a number with s, m, h, d or w, or bare seconds; not M, which is minutes in some tools and months in others; a whole number of seconds, at most 10^10)"
        ))
    })?;
    Ok(LabelParams {
        attribution_window_secs,
        max_severity,
    })
}

/// Resolves the learner flags into checked parameters.
pub(crate) fn learner_params(args: LearnerArgs) -> Result<LearnerParams> {
    let LearnerArgs {
        learner,
        penalty,
        validation_fraction,
        folds,
        selection_rows,
        leaves,
        min_leaf_rows,
        max_trees,
        learning_rate,
        l2,
        subsample,
        no_calibration,
    } = args;
    let mut params = LearnerParams {
        learner,
        validation_fraction,
        folds,
        selection_rows,
        calibrate: !no_calibration,
        ..LearnerParams::default()
    };
    if !penalty.is_empty() {
        params.penalties = penalty;
    }
    if !leaves.is_empty() {
        params.trees.leaves = leaves;
    }
    if !min_leaf_rows.is_empty() {
        params.trees.min_leaf_rows = min_leaf_rows;
    }
    params.trees.max_trees = max_trees;
    if !learning_rate.is_empty() {
        params.trees.learning_rate = learning_rate;
        params.trees.size_learning_rate = false;
    }
    if !l2.is_empty() {
        params.trees.l2 = l2;
    }
    params.trees.subsample = subsample;
    params.check()
}

/// Parses tier percentiles such as `50,90,99` (increasing, within 0..100).
pub(crate) fn parse_tiers(flag: &str, text: &str) -> Result<[f64; 3]> {
    let bad = || {
        Error::Usage(format!(
            "{flag} {text:?} must be three increasing percentiles above 0 and at most 100, e.g. 50,90,99 (a cut at 0, the lowest training risk, would open no tier)"
        ))
    };
    let values: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad())?;
    let tiers: [f64; 3] = values.try_into().map_err(|_| bad())?;
    let ordered = tiers[0] < tiers[1] && tiers[1] < tiers[2];
    if !ordered || tiers[0] <= 0.0 || tiers[2] > 100.0 {
        return Err(bad());
    }
    Ok(tiers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_must_be_three_increasing_percentiles() {
        assert_eq!(
            parse_tiers("--tiers", "50, 90,99").unwrap(),
            [50.0, 90.0, 99.0]
        );
        assert!(parse_tiers("--tiers", "90,50,99").is_err());
        assert!(parse_tiers("--tiers", "50,90").is_err());
        assert!(parse_tiers("--tiers", "50,90,101").is_err());
        assert!(parse_tiers("--tiers", "0,50,90").is_err());
    }
}
