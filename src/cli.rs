//! Command-line arguments (parsing only; each command resolves them into settings).

use std::path::PathBuf;

use crate::model::LearnerChoice;
use clap::{Args, Parser, Subcommand};

/// Scores software changes by the probability that they cause an incident, learned
/// from your own change and incident history.
#[derive(Debug, Parser)]
#[command(name = "changerisk", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// No progress and no summaries on stderr (errors are still printed).
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a realistic synthetic change and incident history.
    Generate(GenerateArgs),
    /// Learn a model from changes and incidents.
    Train(TrainArgs),
    /// Score changes with a saved model, in parallel.
    Score(ScoreArgs),
    /// Time-ordered train/test evaluation: train on the past, measure on the future.
    Evaluate(EvaluateArgs),
    /// Print a feature config (the starting point for describing your own export).
    Config(ConfigArgs),
    /// Score one change inside CI, explain it where reviewers look, enforce guardrail
    /// policies, and gate when asked (exit 0 advisory, 1 gate tripped, 2 bad input).
    Annotate(Box<AnnotateArgs>),
    /// Write a self-contained HTML risk report (inline SVG charts, nothing fetched): the
    /// headline metrics, ROC, calibration and gating curves, risk by segment, top factors
    /// and the riskiest recent changes.
    Report(ReportArgs),
    /// Export the scored history for analysts: typed tables (Parquet, Arrow IPC or CSV)
    /// of every change with its label, risk, tier, policies, reasons and per-feature
    /// contributions, side tables, and a starter Jupyter notebook.
    Export(ExportArgs),
    /// How far recent changes have moved from the model's latest training changes (each
    /// feature's and the risk's population stability index, against the latest and against
    /// all; with --outcomes, observed against predicted incidents), and whether to retrain.
    Drift(DriftArgs),
    /// Write the model as one SQL query (DuckDB, Trino or Spark SQL) that scores a table of
    /// changes as `score` does: every feature, the logistic part, the trees and the tiers.
    Sql(SqlArgs),
}

/// Arguments of `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Print the built-in default config: the contract of SPEC.md.
    #[arg(long)]
    pub default: bool,
    /// Check a config file and print it as changerisk reads it.
    #[arg(long, conflicts_with = "default")]
    pub check: Option<PathBuf>,
    /// Propose a config for a changes file from what its columns hold (id, time and its
    /// format, a 0/1 label, features), each choice explained in a comment.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["default", "check"])]
    pub infer: Option<PathBuf>,
}

/// Which files hold the history and how they are read.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Change history (CSV, Parquet, Arrow IPC or JSON Lines; `-` reads standard input; a
    /// directory is a partitioned table).
    #[arg(long, default_value = "data/changes.csv", value_parser = input_path())]
    pub changes: PathBuf,
    /// Incident history [default: data/incidents.csv with the shipped data/changes.csv;
    /// none when the config names a label column].
    #[arg(long, value_parser = input_path())]
    pub incidents: Option<PathBuf>,
    /// Feature config (TOML) describing the changes file's columns; default: the
    /// contract of SPEC.md (`changerisk config --default` prints it).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// How incidents are linked to changes.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// An incident naming no cause is attributed to the most recent change on its
    /// service applied at most this long before it (e.g. 24h, 90m, 2d; a bare number is
    /// seconds).
    #[arg(long, default_value = "24h", allow_hyphen_values = true)]
    pub attribution_window: String,
    /// Ignore incidents less severe than this (1 is the worst; 5 keeps every incident;
    /// `sev2` is 2, as in the incidents file).
    #[arg(long, default_value_t = 5, value_parser = severity_arg)]
    pub max_severity: u8,
}

/// `--max-severity`: the spellings the incidents file's `severity` accepts.
fn severity_arg(s: &str) -> Result<u8, String> {
    crate::schema::parse_severity(s)
        .ok_or_else(|| "expected a severity 1 to 5 or sev1 to sev5 (1 is the worst)".into())
}

/// Arguments of `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Random seed; the same seed writes byte-identical files.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Number of labelled history changes.
    #[arg(long, default_value_t = 15_000)]
    pub changes: usize,
    /// Number of recent unlabelled changes to score (new_changes.csv).
    #[arg(long, default_value_t = 500)]
    pub new_changes: usize,
    /// Days spanned by the labelled history.
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// Directory for changes.csv, incidents.csv and new_changes.csv.
    #[arg(long, default_value = "data")]
    pub output_dir: PathBuf,
    /// Also write truth.csv (`change_id,true_risk`): the generating process's own incident
    /// probability of every change in changes.csv and then new_changes.csv, in file order
    /// (the best any model can do; for measuring model quality).
    #[arg(long)]
    pub truth: bool,
}

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to write the model.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub labels: LabelArgs,
    #[command(flatten)]
    pub learner: LearnerArgs,
    /// Training-risk percentiles where the medium, high and critical tiers start.
    #[arg(long, default_value = "50,90,99")]
    pub tiers: String,
}

/// Learner settings shared by `train` and `evaluate`.
#[derive(Debug, Args)]
pub struct LearnerArgs {
    /// The learner: logistic regression, gradient-boosted trees, a weighted average of
    /// the two's log-odds (blend), or whichever validates best (auto).
    #[arg(long, value_enum, default_value_t = LearnerChoice::Auto)]
    pub learner: LearnerChoice,
    /// L2 penalty per training row of the logistic model; several (comma-separated) are
    /// tried. Default: 1e-5,1e-4,1e-3,1e-2,1e-1.
    #[arg(long, value_delimiter = ',')]
    pub penalty: Vec<f64>,
    /// How long each fold validates, as a share of the selection window (the most recent
    /// training rows).
    #[arg(long, default_value_t = 0.2)]
    pub validation_fraction: f64,
    /// Rolling-origin folds: each trains on the rows before its origin and validates on
    /// the next stretch; the origins are a fold's share of that stretch apart.
    #[arg(long, default_value_t = 3)]
    pub folds: usize,
    /// Model selection uses at most this many of the most recent training rows; the
    /// final model is refit on all of them.
    #[arg(long, default_value_t = 100_000)]
    pub selection_rows: usize,
    /// Candidate leaf counts per tree (comma-separated). Default: 7,31.
    #[arg(long, value_delimiter = ',')]
    pub leaves: Vec<usize>,
    /// Candidate least training rows per leaf (comma-separated). Default: 20,200.
    #[arg(long, value_delimiter = ',')]
    pub min_leaf_rows: Vec<usize>,
    /// Most trees per model; early stopping on each fold chooses how many. With the
    /// default learning rate on a history under 20,000 changes, the cap grows as the rate
    /// shrinks (800 at 5,000 changes).
    #[arg(long, default_value_t = 400)]
    pub max_trees: usize,
    /// Candidate learning rates (shrinkage) of the trees (comma-separated). Default: 0.08
    /// on histories of 20,000 training changes or more, times the square root of the
    /// history's share of 20,000 below that (0.04 at 5,000).
    #[arg(long, value_delimiter = ',')]
    pub learning_rate: Vec<f64>,
    /// Candidate L2 penalties on the trees' leaf values (comma-separated). Default: 1.
    #[arg(long, value_delimiter = ',')]
    pub l2: Vec<f64>,
    /// Share of the training rows each tree is grown from, drawn afresh every round
    /// (stochastic gradient boosting); 1 grows every tree from every row.
    #[arg(long, default_value_t = crate::train::DEFAULT_SUBSAMPLE)]
    pub subsample: f64,
    /// Do not fit Platt scaling on the most recent validation slice.
    #[arg(long)]
    pub no_calibration: bool,
}

/// Arguments of `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The model written by `train`.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// The changes' outcomes are known (the incidents file, or the config's label
    /// column, covers their period): compare them with the predictions.
    #[arg(long)]
    pub outcomes: bool,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when the advice is to retrain (for a scheduled job).
    #[arg(long)]
    pub fail_on_retrain: bool,
}

/// The changes a model scores (`score`, `drift`) and their history.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Changes to score (`-` reads standard input; a directory is a partitioned table).
    #[arg(long, default_value = "data/new_changes.csv", value_parser = input_path())]
    pub changes: PathBuf,
    /// Incident history, for the history features [default: data/incidents.csv when
    /// scoring the shipped data/new_changes.csv with a model of the built-in schema].
    /// Alone (no --history), the changes scored are their own history.
    #[arg(long, value_parser = input_path())]
    pub incidents: Option<PathBuf>,
    /// Past changes, for the history features, with --incidents; a change also in
    /// --changes counts once [default: data/changes.csv when scoring the shipped
    /// data/new_changes.csv with a model of the built-in schema].
    #[arg(long, value_parser = input_path())]
    pub history: Option<PathBuf>,
    /// No history files (history features see only --changes and no incidents).
    #[arg(long, conflicts_with_all = ["incidents", "history"])]
    pub no_history: bool,
}

/// Arguments of `score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// The model written by `train`.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Where to write the scored changes; the extension names the format [default:
    /// data/scored.csv]. For a partitioned --changes (a directory), no default: a
    /// directory (each part's scores under its own path there, in its format), or one
    /// CSV, JSON Lines or Parquet file (the parts appended in turn).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Override the model's tier percentiles (e.g. 80,95,99.5).
    #[arg(long)]
    pub tiers: Option<String>,
    /// Guardrail policy file (TOML). Default: the built-in policies/default.toml.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// How many of the riskiest changes the summary lists.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
}

/// Arguments of `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Share of the changes, the most recent, held out for testing.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Print the metrics as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub labels: LabelArgs,
    #[command(flatten)]
    pub learner: LearnerArgs,
}

/// Arguments of `annotate`.
#[derive(Debug, Args)]
pub struct AnnotateArgs {
    /// The change: one JSON object or a one-row CSV in the contract (`-` reads stdin).
    /// A missing or `unknown` ai_involvement, permission_level or review_status stays
    /// unknown.
    #[arg(long, value_name = "FILE|-", conflicts_with = "git")]
    pub change: Option<PathBuf>,
    /// Read the change from git: the commits and changed files of BASE..HEAD. Default
    /// in CI: the pull or merge request's base and head.
    #[arg(long, value_name = "BASE..HEAD")]
    pub git: Option<String>,
    /// The git repository to read.
    #[arg(long, default_value = ".")]
    pub repo: PathBuf,
    /// Path-to-service map: TOML of path prefixes or globs per service, like CODEOWNERS.
    #[arg(long, env = "CHANGERISK_SERVICES", value_name = "FILE", value_parser = path_or_empty())]
    pub services: Option<PathBuf>,
    /// GitHub event payload (pull_request, pull_request_review or push). GitLab's
    /// CI_MERGE_REQUEST_* variables are read when GITLAB_CI is true.
    #[arg(long, env = "GITHUB_EVENT_PATH", value_name = "FILE", value_parser = path_or_empty())]
    pub event: Option<PathBuf>,
    #[command(flatten)]
    pub facts: FactArgs,
    /// The model written by `train`.
    #[arg(long, env = "CHANGERISK_MODEL", default_value = "models/model.json", value_parser = path_or_empty())]
    pub model: PathBuf,
    /// Incident history, for the history features (optional).
    #[arg(long, env = "CHANGERISK_INCIDENTS", value_name = "FILE", value_parser = input_path())]
    pub incidents: Option<PathBuf>,
    /// Past changes, for the history features (optional; needs --incidents). Without
    /// them the author's and service's records count nothing, and reasons drawn from
    /// them say "(no history given)".
    #[arg(long, env = "CHANGERISK_HISTORY", value_name = "FILE", value_parser = input_path())]
    pub history: Option<PathBuf>,
    /// Guardrail policy file (TOML). Default: the built-in policies/default.toml.
    #[arg(long, env = "CHANGERISK_POLICY", value_parser = path_or_empty())]
    pub policy: Option<PathBuf>,
    /// Override the model's tier percentiles (e.g. 80,95,99.5).
    #[arg(long)]
    pub tiers: Option<String>,
    /// Output formats, comma-separated, each NAME or NAME=FILE: github (workflow
    /// annotations on stdout, summary appended to $GITHUB_STEP_SUMMARY, risk, tier and
    /// decision to $GITHUB_OUTPUT), gitlab (Code Quality report), sarif, markdown (PR
    /// comment), json. At most one may go to stdout.
    #[arg(
        long,
        env = "CHANGERISK_FORMAT",
        value_delimiter = ',',
        default_value = "markdown",
        value_name = "NAME[=FILE],..."
    )]
    pub format: Vec<String>,
    /// Exit 1 when the gate trips: warn (any violated guardrail), block (a violated
    /// block guardrail), tier:medium, tier:high or tier:critical (risk tier at least
    /// that). Default: advisory, exit 0.
    #[arg(long, env = "CHANGERISK_FAIL_LEVEL", value_name = "LEVEL")]
    pub fail_level: Option<String>,
    /// Where the github format appends its Markdown summary.
    #[arg(long, env = "GITHUB_STEP_SUMMARY", value_name = "FILE", value_parser = path_or_empty())]
    pub github_step_summary: Option<PathBuf>,
    /// Where the github format appends risk, tier and decision.
    #[arg(long, env = "GITHUB_OUTPUT", value_name = "FILE", value_parser = path_or_empty())]
    pub github_output: Option<PathBuf>,
}

/// One of `levels`; an empty value (an empty environment variable, as CI templates set
/// for an input left blank) counts as not given.
fn levels_or_empty(levels: &[&'static str]) -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    let mut values: Vec<PossibleValue> = levels.iter().map(|l| PossibleValue::new(*l)).collect();
    values.push(PossibleValue::new("").hide(true));
    clap::builder::PossibleValuesParser::new(values)
}

/// An input file, `-` naming standard input (read as `/dev/stdin`, known by its content);
/// an empty value (an empty environment variable) counts as not given where a command
/// says so.
fn input_path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(|p| {
        if p == "-" {
            PathBuf::from("/dev/stdin")
        } else {
            PathBuf::from(p)
        }
    })
}

/// A path; an empty value (an empty environment variable) counts as not given.
fn path_or_empty() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// The change's facts given directly; each beats every other source. The ones CI
/// cannot know (permission, review) stay unknown without them, and an unknown fact is
/// scored as its worst case.
#[derive(Debug, Args)]
pub struct FactArgs {
    /// change_id [default: pr-N / mr-N in CI (a push: its head commit), else `change`].
    #[arg(long, env = "CHANGERISK_CHANGE_ID")]
    pub change_id: Option<String>,
    /// When the change is applied (RFC 3339) [default: now].
    #[arg(long, env = "CHANGERISK_TIMESTAMP")]
    pub timestamp: Option<String>,
    /// The primary service changed.
    #[arg(long, env = "CHANGERISK_SERVICE")]
    pub service: Option<String>,
    /// The person or agent that made the change.
    #[arg(long, env = "CHANGERISK_AUTHOR")]
    pub author: Option<String>,
    /// AI involvement (beats commit markers and labels).
    #[arg(long, env = "CHANGERISK_AI", ignore_case = true,
          value_parser = levels_or_empty(&["none", "assisted", "agent", "unknown"]))]
    pub ai: Option<String>,
    /// The AI tool, e.g. claude-code, copilot, cursor, kiro.
    #[arg(long, env = "CHANGERISK_AI_TOOL")]
    pub ai_tool: Option<String>,
    /// Permission level of the principal that applies the change.
    #[arg(long, env = "CHANGERISK_PERMISSION", ignore_case = true,
          value_parser = levels_or_empty(&["standard", "elevated", "admin", "unknown"]))]
    pub permission: Option<String>,
    /// Peer-review outcome.
    #[arg(long, env = "CHANGERISK_REVIEW", ignore_case = true,
          value_parser = levels_or_empty(&["approved", "self_approved", "bypassed", "none", "unknown"]))]
    pub review: Option<String>,
    /// Distinct approving reviewers [default: 1 when approved, else 0].
    #[arg(long, env = "CHANGERISK_REVIEWERS")]
    pub reviewers: Option<String>,
    /// code, config, infra, iam, database or feature_flag [default with --git: from
    /// the changed paths].
    #[arg(long, env = "CHANGERISK_CHANGE_TYPE")]
    pub change_type: Option<String>,
    /// Services touched [default: from --services, else 1].
    #[arg(long, env = "CHANGERISK_SERVICES_AFFECTED")]
    pub services_affected: Option<String>,
    /// Regions touched [default: from --services, else 1].
    #[arg(long, env = "CHANGERISK_REGIONS")]
    pub regions: Option<String>,
    /// Touches a customer-facing path [default: from --services, else false].
    #[arg(long, env = "CHANGERISK_CUSTOMER_FACING")]
    pub customer_facing: Option<String>,
    /// Lines changed [default with --git: from numstat].
    #[arg(long, env = "CHANGERISK_LINES_CHANGED")]
    pub lines_changed: Option<String>,
    /// Files changed [default with --git: from numstat].
    #[arg(long, env = "CHANGERISK_FILES_CHANGED")]
    pub files_changed: Option<String>,
    /// A tested rollback exists [default: false].
    #[arg(long, env = "CHANGERISK_ROLLBACK_PLAN")]
    pub rollback_plan: Option<String>,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The model written by `train`.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Where to write the HTML page.
    #[arg(long, default_value = "report.html")]
    pub output: PathBuf,
    /// Share of the changes, the most recent, held out for the headline metrics (a
    /// model with the given model's settings is trained on the rest, as `evaluate` does).
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Guardrail policy file (TOML). Default: the built-in policies/default.toml.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// How many of the riskiest recent changes the report lists.
    #[arg(long, default_value_t = 15)]
    pub top: usize,
}

/// Arguments of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model written by `train`.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for the tables and the notebook (created if missing; files in it with
    /// the export's names are replaced).
    #[arg(long, default_value = "export")]
    pub output: PathBuf,
    /// File format of the tables.
    #[arg(long, value_enum, default_value_t = crate::export::ExportFormat::Parquet)]
    pub format: crate::export::ExportFormat,
    /// Guardrail policy file (TOML). Default: the built-in policies/default.toml.
    #[arg(long)]
    pub policy: Option<PathBuf>,
}

/// Arguments of `sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The model written by `train`.
    #[arg(long, default_value = "models/model.json")]
    pub model: PathBuf,
    /// The SQL engine to write for.
    #[arg(long, value_enum, default_value_t = crate::sql::Dialect::Duckdb)]
    pub dialect: crate::sql::Dialect,
    /// The relation to score, inserted into the query as given: a table name, or any
    /// table expression of the engine (e.g. "read_parquet('export/changes.parquet')").
    #[arg(long, default_value = "changes")]
    pub from: String,
    /// --from holds the changes as the model's config describes them (its column names, a
    /// typed timestamp): the query links the incidents and computes the calendar and
    /// history columns itself, each change with the history of all of them. Without it,
    /// --from holds them computed (the changes table of `export`).
    #[arg(long)]
    pub raw: bool,
    /// With --raw: the relation of incidents (incident_id, start_time, service, severity,
    /// caused_by_change), inserted as given; needed unless the config names a label column.
    #[arg(long, requires = "raw")]
    pub incidents: Option<String>,
    /// Override the model's tier percentiles (e.g. 80,95,99.5).
    #[arg(long)]
    pub tiers: Option<String>,
    /// Where to write the query (written whole or not at all); `-` prints it.
    #[arg(long, default_value = "-")]
    pub output: PathBuf,
}
