//! `changerisk annotate`: scores one change inside CI, writes it in each requested
//! format (stdout, files, and GitHub's step summary and outputs), and exits 1 when
//! `--fail-level` trips (0 otherwise: advisory by default).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::annotate::ci::{self, CiChange};
use crate::annotate::formats::{self, Format};
use crate::annotate::git::read_range;
use crate::annotate::paths::ServiceMap;
use crate::annotate::{
    evaluate, gather, read_change_file, Annotation, FailLevel, Scoring, Sources,
};
use crate::cli::{AnnotateArgs, FactArgs};
use crate::error::{Error, Result};
use crate::load::{load_changes, load_incidents, Incidents, Read};
use crate::model::Model;
use crate::output::stage;
use crate::policy::Policies;
use crate::progress::Progress;

/// Where the change's own facts come from (besides flags and CI metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A change file (`-`: stdin).
    Change(PathBuf),
    /// `BASE..HEAD` in the repository.
    Git(String),
    /// No file and no range: flags and CI metadata only (in CI, the pull or merge
    /// request's base and head are read from git).
    Ambient,
}

/// One requested output: a format and its file (`None`: stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    pub file: Option<PathBuf>,
}

/// Resolved `annotate` settings.
pub struct AnnotateSettings {
    pub input: Input,
    pub repo: PathBuf,
    pub services: Option<PathBuf>,
    pub event: Option<PathBuf>,
    /// `(column, value, source)` of every fact given by a flag.
    pub flags: Vec<(&'static str, String, String)>,
    pub model: PathBuf,
    pub incidents: Option<PathBuf>,
    pub history: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub tiers: Option<[f64; 3]>,
    pub outputs: Vec<Output>,
    pub fail_level: Option<FailLevel>,
    pub github_step_summary: Option<PathBuf>,
    pub github_output: Option<PathBuf>,
}

/// Parses `--format` entries `NAME` or `NAME=FILE`: known names, each once, at most
/// one on stdout.
pub fn parse_outputs(entries: &[String]) -> Result<Vec<Output>> {
    let mut outputs: Vec<Output> = Vec::new();
    for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (name, file) = match entry.split_once('=') {
            Some((n, f)) if !f.trim().is_empty() => (n, Some(PathBuf::from(f.trim()))),
            // `json=$OUT` with OUT unset: stdout is not what was meant.
            Some(_) => {
                return Err(Error::Usage(format!(
                    "--format {entry:?} names no file after '='; give NAME=FILE, or NAME alone for stdout"
                )))
            }
            None => (entry, None),
        };
        let format = Format::parse(name).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            Error::Usage(format!(
                "--format {name:?} is not one of {}",
                names.join(", ")
            ))
        })?;
        if outputs.iter().any(|o| o.format == format) {
            return Err(Error::Usage(format!("--format names {name} twice")));
        }
        if let Some(path) = &file {
            let taken = outputs.iter().find(|o| {
                o.file
                    .as_deref()
                    .is_some_and(|p| crate::output::same_file(p, path))
            });
            if let Some(other) = taken {
                return Err(Error::Usage(format!(
                    "--format writes {} and {name} both to {}; give each its own file",
                    other.format.name(),
                    path.display()
                )));
            }
        }
        outputs.push(Output { format, file });
    }
    if outputs.is_empty() {
        // An empty CHANGERISK_FORMAT: the default.
        outputs.push(Output {
            format: Format::Markdown,
            file: None,
        });
    }
    let on_stdout: Vec<&str> = outputs
        .iter()
        .filter(|o| o.file.is_none())
        .map(|o| o.format.name())
        .collect();
    if on_stdout.len() > 1 {
        return Err(Error::Usage(format!(
            "--format: {} would all write to stdout; give all but one a file, e.g. {}={}.out",
            on_stdout.join(", "),
            on_stdout[1],
            on_stdout[1]
        )));
    }
    Ok(outputs)
}

/// The facts given by flags (or their environment variables), with their sources.
fn flag_facts(args: FactArgs) -> Vec<(&'static str, String, String)> {
    let FactArgs {
        change_id,
        timestamp,
        service,
        author,
        ai,
        ai_tool,
        permission,
        review,
        reviewers,
        change_type,
        services_affected,
        regions,
        customer_facing,
        lines_changed,
        files_changed,
        rollback_plan,
    } = args;
    [
        ("change_id", change_id, "--change-id", "CHANGE_ID"),
        ("timestamp", timestamp, "--timestamp", "TIMESTAMP"),
        ("service", service, "--service", "SERVICE"),
        ("author", author, "--author", "AUTHOR"),
        ("ai_involvement", ai, "--ai", "AI"),
        ("ai_tool", ai_tool, "--ai-tool", "AI_TOOL"),
        ("permission_level", permission, "--permission", "PERMISSION"),
        ("review_status", review, "--review", "REVIEW"),
        ("reviewer_count", reviewers, "--reviewers", "REVIEWERS"),
        ("change_type", change_type, "--change-type", "CHANGE_TYPE"),
        (
            "services_affected",
            services_affected,
            "--services-affected",
            "SERVICES_AFFECTED",
        ),
        ("regions_affected", regions, "--regions", "REGIONS"),
        (
            "customer_facing",
            customer_facing,
            "--customer-facing",
            "CUSTOMER_FACING",
        ),
        (
            "lines_changed",
            lines_changed,
            "--lines-changed",
            "LINES_CHANGED",
        ),
        (
            "files_changed",
            files_changed,
            "--files-changed",
            "FILES_CHANGED",
        ),
        (
            "rollback_plan",
            rollback_plan,
            "--rollback-plan",
            "ROLLBACK_PLAN",
        ),
    ]
    .into_iter()
    .filter_map(|(column, value, flag, env)| {
        value
            .filter(|v| !v.trim().is_empty())
            .map(|v| (column, v, format!("{flag} / CHANGERISK_{env}")))
    })
    .collect()
}

impl AnnotateSettings {
    /// Resolves and checks the arguments.
    pub fn resolve(args: AnnotateArgs) -> Result<AnnotateSettings> {
        let AnnotateArgs {
            change,
            git,
            repo,
            services,
            event,
            facts,
            model,
            incidents,
            history,
            policy,
            tiers,
            format,
            fail_level,
            github_step_summary,
            github_output,
        } = args;
        let given = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        let (services, event, policy) = (given(services), given(event), given(policy));
        let (incidents, history) = (given(incidents), given(history));
        let (github_step_summary, github_output) =
            (given(github_step_summary), given(github_output));
        let model = given(Some(model)).unwrap_or_else(|| PathBuf::from("models/model.json"));
        let input = match (change, git) {
            (Some(path), _) => Input::Change(path),
            (None, Some(range)) => Input::Git(range),
            (None, None) => Input::Ambient,
        };
        let fail_level = match fail_level.as_deref().map(str::trim) {
            None | Some("") | Some("none") => None,
            Some(text) => Some(FailLevel::parse(text).ok_or_else(|| {
                Error::Usage(format!(
                    "--fail-level {text:?} is not one of warn, block, tier:medium, tier:high, tier:critical (or none)"
                ))
            })?),
        };
        Ok(AnnotateSettings {
            input,
            repo,
            services,
            event,
            flags: flag_facts(facts),
            model,
            incidents,
            history,
            policy,
            tiers: tiers
                .map(|t| super::parse_tiers("--tiers", &t))
                .transpose()?,
            outputs: parse_outputs(&format)?,
            fail_level,
            github_step_summary,
            github_output,
        })
    }
}

/// Gathers, scores and checks the change of `s`, reading CI metadata from `env`.
pub fn annotate(
    s: &AnnotateSettings,
    env: &HashMap<String, String>,
    progress: &Progress,
) -> Result<Annotation> {
    let ci: Option<CiChange> = ci::detect(s.event.as_deref(), env)?;
    let range = match &s.input {
        Input::Git(range) => Some(range.clone()),
        Input::Ambient => ci
            .as_ref()
            .and_then(|c| Some(format!("{}..{}", c.base.as_ref()?, c.head.as_ref()?))),
        Input::Change(_) => None,
    };
    let services = s.services.as_deref().map(ServiceMap::load).transpose()?;
    let change_file = match &s.input {
        Input::Change(path) => Some((
            format!("--change {}", path.display()),
            read_change_file(path)?,
        )),
        _ => None,
    };
    progress.stage("reading git");
    let git = range.map(|r| read_range(&s.repo, &r)).transpose()?;
    let gathered = gather(Sources {
        flags: s.flags.clone(),
        change_file,
        ci,
        git,
        services: services.as_ref(),
        now: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })?;
    // A fact no source gives is exit 2 now, before a large history is read for nothing.
    crate::annotate::facts::check_required(&gathered.facts)?;
    progress.stage("loading model");
    let model = Model::load(&s.model)?;
    super::check_history_has_incidents(s.history.as_deref(), s.incidents.as_deref(), &model)?;
    let policies = Policies::from_flag(s.policy.as_deref())?;
    let tiers = model.tiers.overridden(s.tiers);
    let history = s
        .history
        .as_deref()
        .map(|p| load_changes(p, &model.config, Read::Events).map(|l| l.changes))
        .transpose()?;
    let incidents = match &s.incidents {
        Some(p) => load_incidents(p)?,
        None => Incidents::default(),
    };
    progress.stage("scoring");
    evaluate(
        gathered,
        Scoring {
            model: &model,
            model_path: s.model.display().to_string(),
            tiers,
            policies: &policies,
            history,
            incidents: &incidents,
        },
    )
}

/// Appends `text` to a file (GitHub's step summary and outputs files are appended to).
fn append(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.flush())
        .map_err(|e| Error::io(path, e))
}

/// Writes every requested output. The files are all written before any is put in
/// place, so a failed run leaves none of them (not a Markdown "pass" without its JSON);
/// stdout and GitHub's appended files follow.
fn write_outputs(s: &AnnotateSettings, a: &Annotation, progress: &Progress) -> Result<()> {
    let rendered: Vec<(&Output, String, Option<formats::GithubOutput>)> = s
        .outputs
        .iter()
        .map(|output| {
            let github = (output.format == Format::Github).then(|| formats::github(a));
            let text = match &github {
                Some(gh) => gh.annotations.clone(),
                None => formats::render(output.format, a),
            };
            (output, text, github)
        })
        .collect();
    let staged = rendered
        .iter()
        .filter_map(|(output, text, _)| output.file.as_ref().map(|path| (path, text)))
        .map(|(path, text)| {
            stage(path, |w| {
                w.write_all(text.as_bytes())
                    .and_then(|_| w.write_all(b"\n"))
                    .map_err(|e| Error::io(path, e))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    crate::output::commit_all(staged)?;
    for (output, text, github) in rendered {
        if output.file.is_none() {
            super::print_stdout(&text)?;
        }
        if let Some(gh) = github {
            match &s.github_step_summary {
                Some(path) => append(path, &format!("{}\n", gh.summary))?,
                None => {
                    progress.log("note: GITHUB_STEP_SUMMARY is not set; no step summary written")
                }
            }
            if let Some(path) = &s.github_output {
                append(path, &gh.outputs)?;
            }
        }
    }
    Ok(())
}

/// The link, if any, that `path` goes through (the file itself or a directory on the
/// way) and that lies inside the checkout: the current directory or `repo`, however
/// spelled (`$PWD` through a linked parent, an absolute path). Links outside it
/// (`/tmp`, `$RUNNER_TEMP`, a linked parent of the checkout) are the runner's, not the
/// pull request's. `Err` when no checkout directory can be resolved.
fn link_in_checkout(path: &Path, repo: &Path) -> Result<Option<PathBuf>> {
    let here = std::env::current_dir()
        .map_err(|e| Error::Usage(format!("cannot read the current directory: {e}")))?;
    let roots: Vec<PathBuf> = [here.clone(), here.join(repo)]
        .iter()
        .filter_map(|d| std::fs::canonicalize(d).ok())
        .collect();
    let full = here.join(path);
    let mut parts: Vec<&Path> = full.ancestors().collect();
    parts.reverse();
    for part in parts {
        let is_link = std::fs::symlink_metadata(part).is_ok_and(|m| m.file_type().is_symlink());
        // Where the link itself lives, with every link above it resolved.
        let home = part.parent().and_then(|p| std::fs::canonicalize(p).ok());
        if is_link && home.is_some_and(|h| roots.iter().any(|r| h.starts_with(r))) {
            return Ok(Some(part.to_path_buf()));
        }
    }
    Ok(None)
}

/// The environment as text. A variable that is not UTF-8 is skipped, unless it is one
/// whose text the CI metadata reader takes (`ci.rs`: GitLab's `CI_*` and `GITLAB_*`,
/// `GITHUB_REPOSITORY`, `CI`), which is exit 2: taking it as absent would silently
/// change what the change is scored as. (Paths such as `GITHUB_EVENT_PATH` and the
/// `CHANGERISK_*` flags are read by the command line, not from here.)
fn environment() -> Result<HashMap<String, String>> {
    const READ: [&str; 3] = ["GITLAB_", "CI_", "GITHUB_REPOSITORY"];
    let mut env = HashMap::new();
    for (key, value) in std::env::vars_os() {
        match (key.into_string(), value.into_string()) {
            (Ok(k), Ok(v)) => {
                env.insert(k, v);
            }
            (Ok(k), Err(_)) if READ.iter().any(|p| k.starts_with(p)) || k == "CI" => {
                return Err(Error::Usage(format!(
                    "environment variable {k} is not UTF-8 text; set it to a UTF-8 value or unset it"
                )));
            }
            _ => {}
        }
    }
    Ok(env)
}

/// Runs `annotate`.
pub fn run(args: AnnotateArgs, progress: &Progress) -> Result<u8> {
    let s = AnnotateSettings::resolve(args)?;
    let change = match &s.input {
        Input::Change(path) => Some(path.as_path()),
        _ => None,
    };
    let inputs = [
        ("model", Some(s.model.as_path())),
        ("change file", change),
        ("history file", s.history.as_deref()),
        ("incidents file", s.incidents.as_deref()),
        ("policy file", s.policy.as_deref()),
        ("services file", s.services.as_deref()),
        ("event file", s.event.as_deref()),
    ];
    crate::output::check_one_reader(&inputs)?;
    for path in s.outputs.iter().filter_map(|o| o.file.as_deref()) {
        crate::output::check_not_an_input("--format", path, &inputs)?;
        // In CI the working tree is the pull request's: a link planted there would send
        // the output wherever it points (a runner's file), so annotate never follows one.
        if let Some(link) = link_in_checkout(path, &s.repo)? {
            return Err(Error::Usage(format!(
                "--format names {}, which goes through the link {}: annotate runs in a checkout a pull request controls, so it does not write through links; remove the link or write elsewhere",
                path.display(),
                link.display()
            )));
        }
    }
    let env = environment()?;
    let a = annotate(&s, &env, progress)?;
    progress.stage("writing output");
    write_outputs(&s, &a, progress)?;
    for w in &a.warnings {
        progress.log(&format!("warning: {w}"));
    }
    progress.log(&format!(
        "{}: risk {:.1}% ({} tier), decision {}{}",
        a.change_id,
        100.0 * a.risk,
        a.tier,
        a.decision.as_str(),
        if a.unknown.is_empty() {
            String::new()
        } else {
            let fields: Vec<&str> = a.unknown.iter().map(|u| u.field).collect();
            format!(" (worst case for unknown {})", fields.join(", "))
        }
    ));
    match s.fail_level.and_then(|level| level.tripped(&a)) {
        Some(why) => {
            // The gate's verdict is printed even with --quiet: it is why the job fails.
            let _ = writeln!(std::io::stderr(), "{why}");
            Ok(1)
        }
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(list: &[&str]) -> Result<Vec<Output>> {
        parse_outputs(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn formats_name_their_files_and_share_stdout_with_none() {
        let o = outputs(&["github", "gitlab=gl.json", "Markdown=c.md"]).unwrap();
        assert_eq!(o.len(), 3);
        assert_eq!(o[1].file.as_deref(), Some(Path::new("gl.json")));
        assert!(matches!(
            outputs(&["github", "markdown"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(outputs(&["yaml"]), Err(Error::Usage(_))));
        assert!(matches!(outputs(&["json", "json=x"]), Err(Error::Usage(_))));
        assert!(matches!(
            outputs(&["json= "]),
            Err(Error::Usage(m)) if m.contains("names no file")
        ));
        // Two formats to one file: the second would silently replace the first.
        assert!(matches!(
            outputs(&["markdown=out.txt", "json=./out.txt"]),
            Err(Error::Usage(m)) if m.contains("both to")
        ));
    }
}
