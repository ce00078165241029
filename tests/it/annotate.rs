//! `changerisk annotate`: facts from a real temporary git repository (every AI marker),
//! CI metadata, flags and change files; snapshots of every output format; hostile PR
//! text coming out inert; the gate's exit codes; agreement with batch `score`; the
//! GitHub Action and the GitLab job template run with sample event payloads.
//!
//! Event fixtures under tests/fixtures/annotate/ hold `${BASE_SHA}` and `${HEAD_SHA}`,
//! which a test replaces with the commits of the repository it builds. Snapshots use
//! the frozen model tests/fixtures/annotate/model.json (a copy of the shipped model), so
//! retraining the shipped model does not churn them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// Environment variables of CI systems and of annotate's own flags: removed from every
/// run so that a test sees only what it sets.
const AMBIENT: &[&str] = &[
    "GITHUB_ACTIONS",
    "GITHUB_EVENT_PATH",
    "GITHUB_EVENT_NAME",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_OUTPUT",
    "GITHUB_REPOSITORY",
    "GITLAB_CI",
    "CI_MERGE_REQUEST_IID",
    "CI_MERGE_REQUEST_TITLE",
    "CI_MERGE_REQUEST_LABELS",
    "CI_MERGE_REQUEST_APPROVED",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA",
    "CI_MERGE_REQUEST_PROJECT_URL",
    "CI_COMMIT_SHA",
    "CI_PROJECT_NAME",
    "CI_CONFIG_PATH",
    "GITLAB_USER_LOGIN",
    "CHANGERISK_SERVICES",
    "CHANGERISK_HISTORY",
    "CHANGERISK_INCIDENTS",
    "CHANGERISK_MODEL",
    "CHANGERISK_POLICY",
    "CHANGERISK_FORMAT",
    "CHANGERISK_FAIL_LEVEL",
    "CHANGERISK_CHANGE_ID",
    "CHANGERISK_TIMESTAMP",
    "CHANGERISK_SERVICE",
    "CHANGERISK_AUTHOR",
    "CHANGERISK_AI",
    "CHANGERISK_AI_TOOL",
    "CHANGERISK_PERMISSION",
    "CHANGERISK_REVIEW",
    "CHANGERISK_REVIEWERS",
    "CHANGERISK_CHANGE_TYPE",
    "CHANGERISK_SERVICES_AFFECTED",
    "CHANGERISK_REGIONS",
    "CHANGERISK_CUSTOMER_FACING",
    "CHANGERISK_LINES_CHANGED",
    "CHANGERISK_FILES_CHANGED",
    "CHANGERISK_ROLLBACK_PLAN",
];

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/annotate").join(name)
}

fn frozen_model() -> String {
    fixture("model.json").display().to_string()
}

/// Runs `changerisk annotate args...` in `dir` with `env` and no ambient CI variables.
fn annotate<S: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    args: impl IntoIterator<Item = S>,
    env: &[(&str, &str)],
) -> Run {
    let mut cmd = annotate_command(dir);
    cmd.args(args).envs(env.iter().copied());
    run_command(cmd)
}

/// `changerisk annotate` in `dir`, without the ambient CI variables.
fn annotate_command(dir: &Path) -> assert_cmd::Command {
    let mut cmd = changerisk(dir);
    for var in AMBIENT {
        cmd.env_remove(var);
    }
    cmd.arg("annotate");
    cmd
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A fact's value in annotate's JSON (`None` when unknown).
fn fact(result: &Value, column: &str) -> Option<String> {
    result["facts"][column]["value"]
        .as_str()
        .map(str::to_string)
}

// ---------------------------------------------------------------------------------
// A real git repository.

/// A temporary git repository whose commits have fixed dates and identities, so that
/// the same history gives the same commit ids on any machine.
struct Repo {
    dir: tempfile::TempDir,
    tick: u32,
}

impl Repo {
    fn new() -> Repo {
        let repo = Repo {
            dir: tempdir(),
            tick: 0,
        };
        repo.git(&["init", "--quiet", "--initial-branch=main"], &[]);
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn git(&self, args: &[&str], env: &[(&str, String)]) -> String {
        let out = Command::new("git")
            .current_dir(self.path())
            .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files`, commits them as `author` (also the committer unless given) with
    /// `message`; returns the commit id.
    fn commit(
        &mut self,
        files: &[(&str, &[u8])],
        message: &str,
        author: (&str, &str),
        committer: Option<(&str, &str)>,
    ) -> String {
        for (path, content) in files {
            let full = self.path().join(path);
            std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
            std::fs::write(full, content).expect("write");
        }
        self.git(&["add", "-A"], &[]);
        self.tick += 1;
        let date = format!("2025-06-01T10:{:02}:00Z", self.tick);
        let committer = committer.unwrap_or(author);
        let env = [
            ("GIT_AUTHOR_NAME", author.0.to_string()),
            ("GIT_AUTHOR_EMAIL", author.1.to_string()),
            ("GIT_AUTHOR_DATE", date.clone()),
            ("GIT_COMMITTER_NAME", committer.0.to_string()),
            ("GIT_COMMITTER_EMAIL", committer.1.to_string()),
            ("GIT_COMMITTER_DATE", date),
        ];
        self.git(&["commit", "--quiet", "-m", message], &env);
        self.git(&["rev-parse", "HEAD"], &[])
    }
}

const ANA: (&str, &str) = ("Ana Lima", "ana@example.com");

/// `n` numbered lines of text.
fn lines(n: usize) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("line {i}\n"))
        .collect::<String>()
        .into_bytes()
}

// ---------------------------------------------------------------------------------
// Facts from git.

/// One commit of the marker repository: what it carries and the facts it must give.
struct MarkerCase {
    name: &'static str,
    author: (&'static str, &'static str),
    committer: Option<(&'static str, &'static str)>,
    trailers: &'static str,
    file: &'static str,
    lines: usize,
    ai: &'static str,
    tool: &'static str,
    change_type: &'static str,
}

const MARKER_CASES: &[MarkerCase] = &[
    MarkerCase {
        name: "Claude co-author trailer on a person's commit",
        author: ANA,
        committer: None,
        trailers: "Co-Authored-By: Claude <noreply@anthropic.com>",
        file: "services/checkout/cart.rs",
        lines: 7,
        ai: "assisted",
        tool: "claude-code",
        change_type: "code",
    },
    MarkerCase {
        name: "Copilot co-author trailer, lower case key",
        author: ANA,
        committer: None,
        trailers: "co-authored-by: Copilot <175728472+Copilot@users.noreply.github.com>",
        file: "services/payments/pay.rs",
        lines: 5,
        ai: "assisted",
        tool: "copilot",
        change_type: "code",
    },
    MarkerCase {
        name: "Cursor Agent co-author trailer (an agent trailer)",
        author: ANA,
        committer: None,
        trailers: "CO-AUTHORED-BY: Cursor Agent <cursoragent@cursor.com>",
        file: "config/app.yaml",
        lines: 4,
        ai: "agent",
        tool: "cursor",
        change_type: "config",
    },
    MarkerCase {
        name: "aider as author",
        author: ("Ana Lima (aider)", "ana@example.com"),
        committer: Some(ANA),
        trailers: "",
        file: "infra/main.tf",
        lines: 6,
        ai: "agent",
        tool: "aider",
        change_type: "infra",
    },
    MarkerCase {
        name: "aider as committer only",
        author: ANA,
        committer: Some(("Ana Lima (aider)", "ana@example.com")),
        trailers: "",
        file: "charts/api/values.yaml",
        lines: 2,
        ai: "agent",
        tool: "aider",
        change_type: "infra",
    },
    MarkerCase {
        name: "Copilot coding agent as author",
        author: (
            "copilot-swe-agent[bot]",
            "198982749+Copilot@users.noreply.github.com",
        ),
        committer: Some(("GitHub", "noreply@github.com")),
        trailers: "Co-authored-by: Ana Lima <ana@example.com>",
        file: "db/migrations/0001_init.sql",
        lines: 3,
        ai: "agent",
        tool: "copilot",
        change_type: "database",
    },
    MarkerCase {
        name: "Assisted-by trailer",
        author: ANA,
        committer: None,
        trailers: "assisted-by: Kiro",
        file: "flags/checkout.json",
        lines: 2,
        ai: "assisted",
        tool: "kiro",
        change_type: "feature_flag",
    },
    MarkerCase {
        name: "Generated-by trailer",
        author: ANA,
        committer: None,
        trailers: "Generated-By: OpenAI Codex <codex@openai.example>",
        file: "iam/deployer-policy.json",
        lines: 9,
        ai: "agent",
        tool: "codex",
        change_type: "iam",
    },
    MarkerCase {
        name: "a person called Claude, matched by email and so not the tool",
        author: ANA,
        committer: None,
        trailers: "Co-authored-by: Claude Monet <claude.monet@example.com>",
        file: "services/checkout/README.md",
        lines: 1,
        ai: "none",
        tool: "",
        change_type: "code",
    },
    MarkerCase {
        name: "a co-author line under a sentence, which git lists as no trailer",
        author: ANA,
        committer: None,
        trailers: "Paired on this one.\nCo-authored-by: Claude <noreply@anthropic.com>",
        file: "services/checkout/handler.py",
        lines: 4,
        ai: "assisted",
        tool: "claude-code",
        change_type: "code",
    },
    MarkerCase {
        name: "no marker at all",
        author: ("Bo Chen", "bo@example.com"),
        committer: None,
        trailers: "Signed-off-by: Bo Chen <bo@example.com>",
        file: "services/payments/eu.payments.yaml",
        lines: 8,
        ai: "none",
        tool: "",
        change_type: "config",
    },
];

/// The marker repository: a base commit, then one commit per [`MARKER_CASES`] entry.
/// Returns the repository, the base, and each case's commit.
fn marker_repo() -> (Repo, String, Vec<String>) {
    let mut repo = Repo::new();
    let base = repo.commit(&[("README.md", b"shop\n")], "Initial commit", ANA, None);
    let commits = MARKER_CASES
        .iter()
        .map(|case| {
            let message = if case.trailers.is_empty() {
                format!("{}\n\nBody text.", case.name)
            } else {
                format!("{}\n\nBody text.\n\n{}", case.name, case.trailers)
            };
            repo.commit(
                &[(case.file, &lines(case.lines))],
                &message,
                case.author,
                case.committer,
            )
        })
        .collect();
    (repo, base, commits)
}

#[test]
fn git_markers_give_ai_involvement_and_paths_give_the_change_type() {
    let (repo, base, commits) = marker_repo();
    let services = fixture("services.toml").display().to_string();
    let mut parent = base.clone();
    for (case, commit) in MARKER_CASES.iter().zip(&commits) {
        let range = format!("{parent}..{commit}");
        let result = json(
            &annotate(
                repo.path(),
                [
                    "--git",
                    &range,
                    "--services",
                    &services,
                    "--model",
                    &frozen_model(),
                    "--permission",
                    "standard",
                    "--review",
                    "approved",
                    "--format",
                    "json",
                ],
                &[],
            )
            .success()
            .stdout,
        );
        let got = |c: &str| fact(&result, c).unwrap_or_default();
        assert_eq!(got("ai_involvement"), case.ai, "{}", case.name);
        assert_eq!(got("ai_tool"), case.tool, "{}", case.name);
        assert_eq!(got("change_type"), case.change_type, "{}", case.name);
        assert_eq!(
            got("lines_changed"),
            case.lines.to_string(),
            "{}",
            case.name
        );
        assert_eq!(got("files_changed"), "1", "{}", case.name);
        let source = result["facts"]["ai_involvement"]["source"]
            .as_str()
            .unwrap();
        if case.ai == "none" {
            assert_eq!(source, "git: no AI marker in 1 commit(s)", "{}", case.name);
            assert_eq!(result["ai_markers"], Value::Array(vec![]), "{}", case.name);
        } else {
            assert!(source.contains(&commit[..12]), "{}: {source}", case.name);
        }
        parent = commit.clone();
    }

    // The whole range: the strongest marker (the first agent commit), every file,
    // the services of the map.
    let range = format!("{base}..{}", commits.last().unwrap());
    let result = json(
        &annotate(
            repo.path(),
            [
                "--git",
                &range,
                "--services",
                &services,
                "--model",
                &frozen_model(),
                "--format",
                "json",
            ],
            &[],
        )
        .success()
        .stdout,
    );
    let got = |c: &str| fact(&result, c).unwrap_or_default();
    assert_eq!(got("ai_involvement"), "agent");
    assert_eq!(
        got("ai_tool"),
        "cursor",
        "the first agent marker, oldest commit first"
    );
    assert_eq!(
        got("change_type"),
        "iam",
        "one IAM policy makes an IAM change"
    );
    let total: usize = MARKER_CASES.iter().map(|c| c.lines).sum();
    assert_eq!(got("lines_changed"), total.to_string());
    assert_eq!(got("files_changed"), MARKER_CASES.len().to_string());
    // checkout: 7 + 1 lines; payments: 5 + 8; platform (the default): the rest (26).
    assert_eq!(got("service"), "platform");
    assert_eq!(got("services_affected"), "3");
    assert_eq!(
        got("regions_affected"),
        "3",
        "the most regions of any touched service"
    );
    assert_eq!(
        got("customer_facing"),
        "true",
        "checkout is customer-facing"
    );
    assert_eq!(got("author"), "Ana Lima", "the author of the first commit");
    assert_eq!(
        result["ai_markers"].as_array().unwrap().len(),
        9,
        "one marker per marked commit (the Copilot agent commit's human co-author is none)"
    );
    let files: BTreeMap<String, (String, String)> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                (
                    f["change_type"].as_str().unwrap().to_string(),
                    f["service"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(
        files["services/payments/eu.payments.yaml"],
        ("config".to_string(), "payments".to_string())
    );
    assert_eq!(
        files["iam/deployer-policy.json"],
        ("iam".to_string(), "platform".to_string())
    );
}

#[test]
fn numstat_counts_renames_deletions_and_binary_files() {
    let mut repo = Repo::new();
    let base = repo.commit(
        &[("src/old.rs", &lines(10)), ("src/gone.rs", &lines(4))],
        "base",
        ANA,
        None,
    );
    std::fs::rename(
        repo.path().join("src/old.rs"),
        repo.path().join("src/new.rs"),
    )
    .unwrap();
    std::fs::remove_file(repo.path().join("src/gone.rs")).unwrap();
    let head = repo.commit(
        &[("logo.png", &[0u8, 159, 146, 150, 0, 1, 2])],
        "move",
        ANA,
        None,
    );
    let result = json(
        &annotate(
            repo.path(),
            [
                "--git",
                &format!("{base}..{head}"),
                "--service",
                "web",
                "--model",
                &frozen_model(),
                "--format",
                "json",
            ],
            &[],
        )
        .success()
        .stdout,
    );
    // The rename counts 0 lines, the deletion 4, the binary file 0 lines but 1 file.
    assert_eq!(fact(&result, "lines_changed").as_deref(), Some("4"));
    assert_eq!(fact(&result, "files_changed").as_deref(), Some("3"));
    let paths: Vec<&str> = result["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"src/new.rs") && paths.contains(&"logo.png"),
        "{paths:?}"
    );
    assert!(result["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["binary"] == Value::Bool(true)));
}

#[test]
fn git_ranges_that_are_not_commits_are_bad_input() {
    let mut repo = Repo::new();
    repo.commit(&[("a.txt", b"a\n")], "a", ANA, None);
    annotate(
        repo.path(),
        ["--git=--output=/tmp/x..HEAD", "--model", &frozen_model()],
        &[],
    )
    .bad_input(&["is not a commit"]);
    annotate(
        repo.path(),
        ["--git", "HEAD", "--model", &frozen_model()],
        &[],
    )
    .bad_input(&["is not a range BASE..HEAD"]);
    // A repository that is not there, or not a repository, is named as such (not as a
    // commit missing from a shallow clone).
    let outside = tempdir();
    let plain = outside.path().display().to_string();
    for (at, needle) in [
        ("nowhere", "no such directory"),
        (plain.as_str(), "is not a git repository"),
    ] {
        annotate(
            repo.path(),
            [
                "--repo",
                at,
                "--git",
                "HEAD~1..HEAD",
                "--model",
                &frozen_model(),
            ],
            &[],
        )
        .bad_input(&[needle]);
    }
    // No commits is no evidence of "no AI": an empty range or a reversed one is refused.
    let head = repo.commit(&[("b.txt", b"b\n")], "b", ANA, None);
    for range in [format!("{head}..{head}"), format!("{head}..HEAD~1")] {
        annotate(
            repo.path(),
            ["--git", &range, "--model", &frozen_model()],
            &[],
        )
        .bad_input(&["holds no commits", "nothing to annotate"]);
    }
}

// ---------------------------------------------------------------------------------
// Outputs.

/// The snapshot repository: a base, a commit by a person with a Claude co-author, and
/// one touching an IAM policy. Returns the repository and (base, head).
fn pull_request_repo() -> (Repo, String, String) {
    let mut repo = Repo::new();
    let base = repo.commit(
        &[("services/checkout/keys.rs", &lines(20))],
        "Initial commit",
        ANA,
        None,
    );
    repo.commit(
        &[("services/checkout/keys.rs", &lines(32))],
        "Rotate keys\n\nCo-authored-by: Claude <noreply@anthropic.com>",
        ANA,
        None,
    );
    let head = repo.commit(
        &[(
            "deploy/iam/signer-policy.json",
            b"{\"Version\": \"2012-10-17\"}\n",
        )],
        "Grant the signer role",
        ANA,
        None,
    );
    (repo, base, head)
}

/// Writes an event fixture into `dir` with the commits filled in.
fn event(dir: &Path, name: &str, base: &str, head: &str) -> PathBuf {
    let text = std::fs::read_to_string(fixture(name))
        .expect("the fixture")
        .replace("${BASE_SHA}", base)
        .replace("${HEAD_SHA}", head);
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the event");
    path
}

/// Snapshot settings: snapshots in tests/snapshots, unstable parts redacted.
fn snapshot_settings(root_dirs: &[&Path]) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(repo_root().join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    let mut filters: Vec<(String, String)> = root_dirs
        .iter()
        .map(|d| (regex_escape(&d.display().to_string()), "[dir]".to_string()))
        .collect();
    filters.push((
        regex_escape(&repo_root().display().to_string()),
        "[repo]".to_string(),
    ));
    // The Markdown escapes of the same paths.
    filters.push((
        r"(\\/[\w.\\-]+)+\\/tests\\/fixtures".into(),
        "[repo escaped]/tests/fixtures".into(),
    ));
    filters.push((r"\b[0-9a-f]{40}\b".into(), "[commit]".into()));
    filters.push((r"\b[0-9a-f]{12}\b".into(), "[commit12]".into()));
    filters.push((regex_escape(env!("CARGO_PKG_VERSION")), "[version]".into()));
    for (from, to) in filters {
        settings.add_filter(&from, to);
    }
    settings
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// Runs the pull request of [`pull_request_repo`] through annotate with `formats`
/// written to files in the repository; returns the run and the files' contents.
fn run_pull_request(formats: &[&str], extra: &[&str]) -> (Run, BTreeMap<String, String>, Repo) {
    let (repo, base, head) = pull_request_repo();
    let out = tempdir();
    let event = event(out.path(), "github-pull-request.json", &base, &head);
    let summary = out.path().join("summary.md");
    let outputs = out.path().join("outputs.txt");
    let spec: Vec<String> = formats
        .iter()
        .map(|f| match *f {
            "github" => "github".to_string(),
            f => format!("{f}={}", out.path().join(f).display()),
        })
        .collect();
    let mut args: Vec<String> = vec![
        "--services".into(),
        fixture("services.toml").display().to_string(),
        "--model".into(),
        frozen_model(),
        "--timestamp".into(),
        "2025-06-02T15:30:00Z".into(),
        "--permission".into(),
        "elevated".into(),
        "--format".into(),
        spec.join(","),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let run = annotate(
        repo.path(),
        &args,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_PATH", &event.display().to_string()),
            ("GITHUB_STEP_SUMMARY", &summary.display().to_string()),
            ("GITHUB_OUTPUT", &outputs.display().to_string()),
            ("GITHUB_REPOSITORY", "acme/shop"),
        ],
    );
    let mut files = BTreeMap::new();
    for f in formats.iter().filter(|f| **f != "github") {
        files.insert(
            f.to_string(),
            std::fs::read_to_string(out.path().join(f)).unwrap_or_default(),
        );
    }
    for (name, path) in [("summary", &summary), ("outputs", &outputs)] {
        files.insert(
            name.into(),
            std::fs::read_to_string(path).unwrap_or_default(),
        );
    }
    (run, files, repo)
}

#[test]
fn every_output_format_matches_its_snapshot() {
    let (run, files, repo) =
        run_pull_request(&["github", "gitlab", "sarif", "markdown", "json"], &[]);
    let run = run.success();
    let settings = snapshot_settings(&[repo.path()]);
    settings.bind(|| {
        insta::assert_snapshot!("annotate_github_annotations", run.stdout);
        insta::assert_snapshot!("annotate_github_step_summary", files["summary"]);
        insta::assert_snapshot!("annotate_github_output", files["outputs"]);
        insta::assert_snapshot!("annotate_gitlab", files["gitlab"]);
        insta::assert_snapshot!("annotate_sarif", files["sarif"]);
        insta::assert_snapshot!("annotate_markdown", files["markdown"]);
        insta::assert_snapshot!("annotate_json", files["json"]);
    });
    // The reports are well-formed and anchored to a file the change really touches.
    let gitlab = json(&files["gitlab"]);
    for issue in gitlab.as_array().unwrap() {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(issue[key].is_string(), "{key} in {issue}");
        }
        assert_eq!(issue["location"]["path"], "deploy/iam/signer-policy.json");
        assert_eq!(issue["location"]["lines"]["begin"], 1);
    }
    let fingerprints: std::collections::HashSet<&str> = gitlab
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(
        fingerprints.len(),
        gitlab.as_array().unwrap().len(),
        "unique fingerprints"
    );
    let sarif = json(&files["sarif"]);
    assert_eq!(sarif["version"], "2.1.0");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    for result in sarif["runs"][0]["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
    }
    // Running again gives the same report (stable fingerprints).
    let (again, files_again, _) = run_pull_request(&["gitlab"], &[]);
    again.success();
    let fp = |text: &str| -> Vec<String> {
        json(text)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["fingerprint"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(fp(&files["gitlab"]), fp(&files_again["gitlab"]));
}

#[test]
fn hostile_pull_request_text_comes_out_inert() {
    let (repo, base, head) = pull_request_repo();
    let out = tempdir();
    let event = event(out.path(), "github-pull-request-hostile.json", &base, &head);
    let summary = out.path().join("summary.md");
    let outputs = out.path().join("outputs.txt");
    let markdown = out.path().join("comment.md");
    let json_out = out.path().join("result.json");
    let run = annotate(
        repo.path(),
        [
            "--model".to_string(),
            frozen_model(),
            "--service".into(),
            "checkout".into(),
            "--format".into(),
            format!(
                "github,markdown={},json={}",
                markdown.display(),
                json_out.display()
            ),
        ],
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_PATH", &event.display().to_string()),
            ("GITHUB_STEP_SUMMARY", &summary.display().to_string()),
            ("GITHUB_OUTPUT", &outputs.display().to_string()),
        ],
    )
    .success();

    // Workflow commands: one command per line, each ours; the injected ones are data.
    let commands: Vec<&str> = run.stdout.lines().collect();
    assert!(!commands.is_empty());
    for line in &commands {
        let (kind, rest) = line
            .strip_prefix("::")
            .and_then(|l| l.split_once(' '))
            .unwrap_or_else(|| panic!("not a workflow command: {line:?}"));
        assert!(["error", "warning", "notice"].contains(&kind), "{line}");
        let (properties, _message) = rest.split_once("::").expect("properties::message");
        assert!(properties.starts_with("title="), "{line}");
        assert!(
            !properties.contains(':') && !properties.contains(','),
            "{line}"
        );
    }
    assert!(!run.stdout.contains("\n::set-output") && !run.stdout.contains("\n::error::pwned"));
    assert!(run
        .stdout
        .contains("Fix typo%0A::set-output name=decision::pass%0D%0A%250A::error::pwned"));
    assert!(run
        .stdout
        .contains("mallory%250A::warning::spoofed%0A::notice::"));

    // Step outputs: exactly ours.
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    let keys: Vec<&str> = outputs
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["risk", "tier", "decision"], "{outputs}");

    // Markdown (step summary and comment): no HTML, link, emphasis or mention survives.
    let summary = std::fs::read_to_string(&summary).unwrap();
    let comment = std::fs::read_to_string(&markdown).unwrap();
    assert_eq!(summary.trim_end(), comment.trim_end());
    for needle in [
        "<img",
        "<b>",
        "](https",
        "**bold**",
        "@acme/security",
        "<!-- c -->",
        "\n::",
        "| x |",
    ] {
        assert!(
            !unescaped(&comment, needle),
            "{needle:?} in the comment:\n{comment}"
        );
    }
    assert!(
        comment.contains("\\<img src\\=x onerror\\=alert\\(1\\)\\>"),
        "{comment}"
    );

    // JSON keeps the exact text, as data.
    let result = json(&std::fs::read_to_string(&json_out).unwrap());
    assert!(result["title"]
        .as_str()
        .unwrap()
        .starts_with("Fix typo\n::set-output"));
    assert_eq!(
        fact(&result, "ai_involvement").as_deref(),
        Some("assisted"),
        "the ai-assisted label"
    );
}

/// Whether `needle` occurs in `text` other than right after a backslash (which makes
/// its first character literal in Markdown).
fn unescaped(text: &str, needle: &str) -> bool {
    text.match_indices(needle)
        .any(|(at, _)| !text[..at].ends_with('\\'))
}

// ---------------------------------------------------------------------------------
// The gate.

#[test]
fn a_blocked_change_fails_the_gate_only_when_asked() {
    let dir = tempdir();
    let change = fixture("blocked-change.json").display().to_string();
    let base = [
        "--change",
        &change,
        "--model",
        &frozen_model(),
        "--format",
        "json",
    ];
    let advisory = annotate(dir.path(), base, &[]).success();
    assert_eq!(json(&advisory.stdout)["decision"], "block");

    let gated = annotate(
        dir.path(),
        [&base[..], &["--fail-level", "block"]].concat(),
        &[],
    );
    gated.no_panic();
    assert_eq!(gated.code, Some(1), "stderr:\n{}", gated.stderr);
    for needle in [
        "--fail-level block tripped for chg-agent-1",
        "rule 'ai-privileged-unreviewed' (block)",
        "needs an approving review by someone other than its author",
        "ai_involvement is agent (--change ",
        "permission_level is elevated (--change ",
        "review_status is self_approved (--change ",
    ] {
        assert!(
            gated.stderr.contains(needle),
            "{needle:?} not in:\n{}",
            gated.stderr
        );
    }
    // The verdict shows even with --quiet, and through the environment variable.
    let quiet = annotate(
        dir.path(),
        [&base[..], &["--quiet"]].concat(),
        &[("CHANGERISK_FAIL_LEVEL", "block")],
    );
    assert_eq!(quiet.code, Some(1));
    assert!(
        quiet.stderr.contains("ai-privileged-unreviewed"),
        "{}",
        quiet.stderr
    );

    // Other levels: warn trips on any violation; a tier gate on the tier alone.
    let warn = annotate(
        dir.path(),
        [&base[..], &["--fail-level", "warn"]].concat(),
        &[],
    );
    assert_eq!(warn.code, Some(1));
    let tier = json(&advisory.stdout)["tier"].as_str().unwrap().to_string();
    assert!(["high", "critical"].contains(&tier.as_str()), "{tier}");
    let medium_gate = annotate(
        dir.path(),
        [&base[..], &["--fail-level", "tier:medium"]].concat(),
        &[],
    );
    assert_eq!(medium_gate.code, Some(1), "its tier is above medium");
    assert!(
        medium_gate
            .stderr
            .contains(&format!("is in the {tier} tier")),
        "{}",
        medium_gate.stderr
    );
    annotate(
        dir.path(),
        [&base[..], &["--fail-level", "tier:extreme"]].concat(),
        &[],
    )
    .bad_input(&["--fail-level \"tier:extreme\""]);
}

#[test]
fn a_reviewed_standard_change_passes_every_gate_but_its_tier() {
    let dir = tempdir();
    let run = annotate(
        dir.path(),
        [
            "--change",
            &fixture("blocked-change.json").display().to_string(),
            "--permission",
            "standard",
            "--review",
            "approved",
            "--reviewers",
            "2",
            "--model",
            &frozen_model(),
            "--format",
            "json",
            "--fail-level",
            "block",
        ],
        &[],
    )
    .success();
    let result = json(&run.stdout);
    assert_eq!(result["decision"], "pass");
    assert!(result["policies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["violated"] == false));
    assert_eq!(
        result["facts"]["permission_level"]["source"],
        "--permission / CHANGERISK_PERMISSION"
    );
}

// ---------------------------------------------------------------------------------
// Unknown facts.

#[test]
fn unknown_permission_and_review_are_scored_as_the_worst_case() {
    let dir = tempdir();
    let facts = [
        "--service",
        "checkout",
        "--author",
        "ana",
        "--ai",
        "agent",
        "--change-type",
        "infra",
        "--lines-changed",
        "120",
        "--files-changed",
        "4",
        "--timestamp",
        "2025-06-02T15:30:00Z",
        "--model",
    ];
    let model = frozen_model();
    let risk_with = |extra: &[&str]| -> Value {
        let mut args: Vec<&str> = facts.to_vec();
        args.push(&model);
        args.extend(["--format", "json"]);
        args.extend(extra);
        json(&annotate(dir.path(), &args, &[]).success().stdout)
    };
    let unknown = risk_with(&[]);
    assert_eq!(unknown["facts"]["permission_level"]["value"], Value::Null);
    assert_eq!(unknown["facts"]["review_status"]["value"], Value::Null);
    assert_eq!(
        unknown["scored_cases"], 12,
        "3 permission levels x 4 review outcomes"
    );
    let fields: Vec<&str> = unknown["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["permission_level", "review_status"]);
    assert_eq!(
        unknown["decision"], "block",
        "unknown is never silently safe"
    );
    let blocked = unknown["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "ai-privileged-unreviewed")
        .unwrap();
    assert_eq!(blocked["violated"], true);
    assert_eq!(
        blocked["certain"], false,
        "it fires only for some of the unknown cases"
    );

    // The worst case is exactly the riskiest known combination: the cases are scored
    // independently (same timestamp, so none is history for another).
    let mut riskiest = 0.0f64;
    for permission in ["standard", "elevated", "admin"] {
        for review in ["approved", "self_approved", "bypassed", "none"] {
            let known = risk_with(&["--permission", permission, "--review", review]);
            assert!(known["unknown"].as_array().unwrap().is_empty());
            riskiest = riskiest.max(known["risk"].as_f64().unwrap());
        }
    }
    assert_eq!(unknown["risk"].as_f64().unwrap(), riskiest);
    // `unknown` given explicitly is the same state, and names its source.
    let explicit = risk_with(&["--permission", "unknown"]);
    assert_eq!(explicit["risk"], unknown["risk"]);
    assert_eq!(
        explicit["facts"]["permission_level"]["source"],
        "--permission / CHANGERISK_PERMISSION (unknown)"
    );
}

// ---------------------------------------------------------------------------------
// Agreement with `score`.

/// The first of the shipped new changes, written as a one-row CSV `one.csv` in `dir`.
fn first_new_change(dir: &Path) -> (Records, PathBuf) {
    let new_changes = read_records(&repo_root().join("data/new_changes.csv"));
    let one = Records {
        header: new_changes.header.clone(),
        rows: vec![new_changes.rows[0].clone()],
    };
    let path = dir.join("one.csv");
    one.write(&path);
    (one, path)
}

#[test]
fn a_change_csv_is_read_with_the_checks_of_every_csv_file() {
    // A column named twice could slip `admin` past a block rule behind `standard`.
    let dir = tempdir();
    let new_changes = read_records(&repo_root().join("data/new_changes.csv"));
    let mut header = new_changes.header.join(",");
    let mut row = new_changes.rows[0].join(",");
    header.push_str(",permission_level");
    row.push_str(",admin");
    let path = dir.path().join("twice.csv");
    std::fs::write(&path, format!("{header}\n{row}\n")).expect("written");
    let model = shipped_model().display().to_string();
    let change = path.display().to_string();
    annotate(dir.path(), ["--change", &change, "--model", &model], &[])
        .bad_input(&["twice.csv", "'permission_level' twice"]);
    // A quote left open and a short row are named by row, as in `score`.
    std::fs::write(
        &path,
        format!("{}\n\"{row}\n", new_changes.header.join(",")),
    )
    .expect("written");
    annotate(dir.path(), ["--change", &change, "--model", &model], &[]).bad_input(&[
        "twice.csv",
        "row 1",
        "quote",
    ]);
    let short = new_changes.rows[0][1..].join(",");
    std::fs::write(
        &path,
        format!("{}\n{short}\n", new_changes.header.join(",")),
    )
    .expect("written");
    annotate(dir.path(), ["--change", &change, "--model", &model], &[]).bad_input(&[
        "twice.csv",
        "row 1",
        "field(s) where the header has",
    ]);
}

#[test]
fn a_failed_annotate_leaves_none_of_its_output_files() {
    // The Markdown comment ("pass") must not appear when its JSON cannot be written.
    let dir = tempdir();
    let (_, csv_path) = first_new_change(dir.path());
    std::fs::write(dir.path().join("afile"), "a file").expect("written");
    let markdown = dir.path().join("comment.md");
    let json_out = dir.path().join("afile").join("result.json");
    annotate(
        dir.path(),
        [
            "--change".to_string(),
            csv_path.display().to_string(),
            "--model".into(),
            shipped_model().display().to_string(),
            "--format".into(),
            format!(
                "markdown={},json={}",
                markdown.display(),
                json_out.display()
            ),
        ],
        &[],
    )
    .bad_input(&["afile", "not a directory"]);
    assert!(!markdown.exists());
    assert_eq!(file_names(dir.path()), ["afile", "one.csv"]);
}

#[test]
fn annotate_refuses_an_output_over_an_input_and_a_near_miss_name() {
    let dir = tempdir();
    let (one, csv_path) = first_new_change(dir.path());
    let model = dir.path().join("m.json");
    std::fs::copy(shipped_model(), &model).expect("copied");
    let (change, model) = (csv_path.display().to_string(), model.display().to_string());
    let json_to = |target: &str| {
        let format = format!("json={target}");
        annotate(
            dir.path(),
            ["--change", &change, "--model", &model, "--format", &format],
            &[],
        )
    };
    for target in [&model, &change] {
        json_to(target).bad_input(&["--format", "this run reads"]);
    }
    assert_eq!(
        std::fs::read(&model).expect("kept"),
        std::fs::read(shipped_model()).expect("shipped")
    );
    // A link in the checkout, to an existing file or to none yet, is not written through.
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, "runner's file").expect("written");
    std::os::unix::fs::symlink(&outside, dir.path().join("planted.json")).expect("linked");
    std::os::unix::fs::symlink(
        dir.path().join("nothing.json"),
        dir.path().join("dangling.json"),
    )
    .expect("linked");
    // ... nor a directory on the way that is a link.
    std::fs::create_dir(dir.path().join("elsewhere")).expect("mkdir");
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("ldir"))
        .expect("linked");
    for link in ["planted.json", "dangling.json", "ldir/report.json"] {
        json_to(link).bad_input(&["--format names", link, "goes through the link"]);
    }
    assert!(!dir.path().join("elsewhere/report.json").exists());
    // However the checkout is spelled: here through a linked parent (`$PWD` can be).
    std::fs::create_dir(dir.path().join("real")).expect("mkdir");
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("logical"))
        .expect("linked");
    std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join("real/evil"))
        .expect("linked");
    let spelled = dir
        .path()
        .join("logical/evil/out.json")
        .display()
        .to_string();
    let format = format!("json={spelled}");
    annotate(
        &dir.path().join("real"),
        ["--change", &change, "--model", &model, "--format", &format],
        &[],
    )
    .bad_input(&["goes through the link", "evil"]);
    assert!(!dir.path().join("elsewhere/out.json").exists());
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "runner's file");
    assert!(!dir.path().join("nothing.json").exists());
    // `Rollback_Plan` is not `rollback_plan`: ignored, the fact would default to false.
    let renamed = Records {
        header: one
            .header
            .iter()
            .map(|h| {
                if h == "rollback_plan" {
                    "Rollback_Plan".to_string()
                } else {
                    h.clone()
                }
            })
            .collect(),
        rows: one.rows.clone(),
    };
    renamed.write(&csv_path);
    annotate(dir.path(), ["--change", &change, "--model", &model], &[]).bad_input(&[
        "one.csv",
        "no column 'rollback_plan'",
        "Rollback_Plan",
    ]);
}

#[test]
fn annotate_refuses_a_history_without_its_incidents() {
    // Its history features would count no incident and lower the risk, silently.
    let dir = tempdir();
    let (_, csv_path) = first_new_change(dir.path());
    let history = repo_root().join("data/changes.csv").display().to_string();
    annotate(
        dir.path(),
        [
            "--change",
            &csv_path.display().to_string(),
            "--model",
            &shipped_model().display().to_string(),
            "--history",
            &history,
        ],
        &[],
    )
    .bad_input(&["--history", "needs --incidents"]);
}

#[test]
fn annotate_scores_a_change_exactly_as_score_does() {
    let dir = tempdir();
    let new_changes = read_records(&repo_root().join("data/new_changes.csv"));
    let history = repo_root().join("data/changes.csv").display().to_string();
    let incidents = repo_root().join("data/incidents.csv").display().to_string();
    let model = shipped_model().display().to_string();
    // The shipped scores, explained from tables worked out for all 500 changes; one
    // change alone (score or annotate) is explained without them.
    let shipped = read_records(&repo_root().join("data/scored.csv"));
    for (row, all) in new_changes.rows.iter().zip(&shipped.rows).take(4) {
        let one = Records {
            header: new_changes.header.clone(),
            rows: vec![row.clone()],
        };
        let csv_path = dir.path().join("one.csv");
        one.write(&csv_path);
        let scored_path = dir.path().join("scored.csv");
        run(
            dir.path(),
            [
                "score",
                "--quiet",
                "--model",
                &model,
                "--changes",
                &csv_path.display().to_string(),
                "--history",
                &history,
                "--incidents",
                &incidents,
                "--output",
                &scored_path.display().to_string(),
            ],
        )
        .success();
        let expected = &scored(&scored_path)[0];
        assert_eq!(
            &expected[..],
            &all[..],
            "scored alone and among the shipped changes"
        );
        let result = json(
            &annotate(
                dir.path(),
                [
                    "--change",
                    &csv_path.display().to_string(),
                    "--model",
                    &model,
                    "--history",
                    &history,
                    "--incidents",
                    &incidents,
                    "--format",
                    "json",
                ],
                &[],
            )
            .success()
            .stdout,
        );
        let risk: f64 = expected[1].parse().unwrap();
        approx::assert_abs_diff_eq!(result["risk"].as_f64().unwrap(), risk, epsilon = 1e-12);
        assert_eq!(result["tier"], expected[2].as_str());
        let reasons: Vec<&str> = result["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert_eq!(reasons.join("; "), expected[3]);
        let violated: Vec<&str> = result["policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["violated"] == true)
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        assert_eq!(violated.join(";"), expected[4]);
        assert_eq!(result["change_id"], expected[0].as_str());
        // The history the features saw is reported (15,000 changes, 901 incidents).
        assert_eq!(result["model"]["history_changes"], 15_000);
        assert_eq!(result["model"]["history_incidents"], 901);
    }
}

#[test]
fn without_a_history_the_reasons_say_so_and_ci_can_give_one_by_environment() {
    let dir = tempdir();
    let model = shipped_model().display().to_string();
    let history = repo_root().join("data/changes.csv").display().to_string();
    let incidents = repo_root().join("data/incidents.csv").display().to_string();
    // chg-015004: its author has earlier changes in the shipped history.
    let new_changes = read_records(&repo_root().join("data/new_changes.csv"));
    let shipped = read_records(&repo_root().join("data/scored.csv"));
    let row = new_changes
        .rows
        .iter()
        .position(|r| r[0] == "chg-015004")
        .unwrap();
    let csv_path = dir.path().join("one.csv");
    Records {
        header: new_changes.header.clone(),
        rows: vec![new_changes.rows[row].clone()],
    }
    .write(&csv_path);
    let csv_path = csv_path.display().to_string();
    let reasons = |result: &Value| -> Vec<String> {
        result["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect()
    };
    let args = ["--change", &csv_path, "--model", &model, "--format", "json"];
    // No history: the author's record counts nothing, and the reason says why.
    let alone = json(&annotate(dir.path(), args, &[]).success().stdout);
    assert_eq!(alone["model"]["history_changes"], 0);
    assert!(
        reasons(&alone).contains(&"the author's first change (no history given)".to_string()),
        "{:?}",
        reasons(&alone)
    );
    // The history by environment (as the GitLab job passes it), empty values ignored.
    let by_env = json(
        &annotate(
            dir.path(),
            args,
            &[
                ("CHANGERISK_HISTORY", &history),
                ("CHANGERISK_INCIDENTS", &incidents),
                ("CHANGERISK_SERVICES", ""),
            ],
        )
        .success()
        .stdout,
    );
    assert_eq!(by_env["model"]["history_changes"], 15_000);
    let risk: f64 = shipped.rows[row][1].parse().unwrap();
    approx::assert_abs_diff_eq!(by_env["risk"].as_f64().unwrap(), risk, epsilon = 1e-12);
    assert_eq!(reasons(&by_env).join("; "), shipped.rows[row][3]);
    assert!(!shipped
        .rows
        .iter()
        .any(|r| r[3].contains("no history given")));
    let empty = json(
        &annotate(
            dir.path(),
            args,
            &[("CHANGERISK_HISTORY", ""), ("CHANGERISK_INCIDENTS", "")],
        )
        .success()
        .stdout,
    );
    assert_eq!(empty["risk"], alone["risk"]);
    // Incidents alone: the service's incident counts are counted, the change counts not.
    let incidents_only = json(
        &annotate(dir.path(), args, &[("CHANGERISK_INCIDENTS", &incidents)])
            .success()
            .stdout,
    );
    assert_eq!(incidents_only["model"]["history_incidents"], 901);
    assert!(
        reasons(&incidents_only)
            .contains(&"the author's first change (no history given)".to_string()),
        "{:?}",
        reasons(&incidents_only)
    );
    // chg-015026's service had an incident in the 7 days before it: counted from the
    // incidents alone, so worded without the mark, as `score --incidents` words it.
    let row = new_changes
        .rows
        .iter()
        .position(|r| r[0] == "chg-015026")
        .unwrap();
    Records {
        header: new_changes.header.clone(),
        rows: vec![new_changes.rows[row].clone()],
    }
    .write(&dir.path().join("026.csv"));
    let path = dir.path().join("026.csv").display().to_string();
    let service = json(
        &annotate(
            dir.path(),
            ["--change", &path, "--model", &model, "--format", "json"],
            &[("CHANGERISK_INCIDENTS", &incidents)],
        )
        .success()
        .stdout,
    );
    let words = reasons(&service);
    assert!(
        words
            .iter()
            .any(|r| r == "service had 1 incident in the last 7 days"),
        "{words:?}"
    );
    // `score --no-history` words its history reasons the same way.
    let out = dir.path().join("scored.csv");
    let new_path = repo_root().join("data/new_changes.csv");
    score(dir.path(), &new_path, None, &out).success();
    let first: Vec<String> = scored(&out)
        .into_iter()
        .flat_map(|r| {
            r[3].split("; ")
                .filter(|r| r.contains("first change"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!first.is_empty());
    assert!(
        first
            .iter()
            .all(|r| r == "the author's first change (no history given)"),
        "{first:?}"
    );
}

#[test]
fn a_json_change_on_stdin_scores_like_the_csv_row() {
    let dir = tempdir();
    let change = std::fs::read_to_string(fixture("blocked-change.json")).unwrap();
    let via_stdin = {
        let mut cmd = annotate_command(dir.path());
        let model = frozen_model();
        cmd.args(["--change", "-", "--model", &model, "--format", "json"])
            .write_stdin(change.clone());
        json(&run_command(cmd).success().stdout)
    };
    let object = json(&change);
    let header: Vec<&str> = object
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let row: Vec<String> = header
        .iter()
        .map(|k| match &object[*k] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let csv_path = dir.path().join("change.csv");
    write_records(&csv_path, &header, &[row]);
    let via_csv = json(
        &annotate(
            dir.path(),
            [
                "--change",
                &csv_path.display().to_string(),
                "--model",
                &frozen_model(),
                "--format",
                "json",
            ],
            &[],
        )
        .success()
        .stdout,
    );
    assert_eq!(via_stdin["risk"], via_csv["risk"]);
    assert_eq!(via_stdin["reasons"], via_csv["reasons"]);
}

// ---------------------------------------------------------------------------------
// Bad input: exit 2, naming the problem.

#[test]
fn bad_inputs_exit_2_naming_the_problem() {
    let dir = tempdir();
    let change = fixture("blocked-change.json").display().to_string();
    let model = frozen_model();
    let with = |extra: &[&str]| {
        let mut args = vec!["--change", change.as_str(), "--model", model.as_str()];
        args.extend(extra);
        annotate(dir.path(), args, &[])
    };
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[rule]]\nid = 'no-friday'\ndescription = 'd'\naction = 'block'\nwhen = { review_status = ['aproved'] }\n",
    )
    .unwrap();
    with(&["--policy", &policy.display().to_string()])
        .bad_input(&["rule 'no-friday'", "'aproved'"]);
    with(&["--format", "yaml"])
        .bad_input(&["--format \"yaml\" is not one of github, gitlab, sarif, markdown, json"]);
    with(&["--format", "json,markdown"]).bad_input(&["would all write to stdout"]);
    with(&["--fail-level", "tier:low"]).bad_input(&[
        "--fail-level \"tier:low\" is not one of warn, block, tier:medium, tier:high, tier:critical",
    ]);
    with(&["--reviewers", "two"])
        .bad_input(&["reviewer_count \"two\" (from --reviewers / CHANGERISK_REVIEWERS)"]);
    with(&["--permission", "root"]).bad_input(&["root"]);
    let services = dir.path().join("services.toml");
    std::fs::write(&services, "[[service]]\nname = 'api'\npaths = []\n").unwrap();
    with(&["--services", &services.display().to_string()])
        .bad_input(&["service 'api' has no paths"]);

    let two_rows = dir.path().join("two.csv");
    let rows = small_changes();
    write_changes(&two_rows, &rows[..2]);
    annotate(
        dir.path(),
        [
            "--change",
            &two_rows.display().to_string(),
            "--model",
            &model,
        ],
        &[],
    )
    .bad_input(&["expected exactly one change (one row), found 2"]);
    let bad_cell = dir.path().join("bad.json");
    std::fs::write(&bad_cell, change_with("review_status", "aproved")).unwrap();
    annotate(
        dir.path(),
        [
            "--change",
            &bad_cell.display().to_string(),
            "--model",
            &model,
        ],
        &[],
    )
    .bad_input(&[
        "review_status \"aproved\"",
        "is not one of approved, self_approved, bypassed, none",
    ]);
    annotate(dir.path(), ["--author", "ana", "--model", &model], &[])
        .bad_input(&["no value for service", "change_type (give --change-type"]);
    // Checked before a history is read (here one that is not even there).
    let missing = ["--history", "nowhere.csv", "--incidents", "nowhere.csv"];
    annotate(
        dir.path(),
        ["--author", "ana", "--model", &model]
            .iter()
            .chain(&missing),
        &[],
    )
    .bad_input(&["no value for service"]);
}

/// The blocked-change fixture with one field replaced.
fn change_with(field: &str, value: &str) -> String {
    let mut change = json(&std::fs::read_to_string(fixture("blocked-change.json")).unwrap());
    change[field] = Value::String(value.into());
    change.to_string()
}

#[test]
fn help_names_the_environment_variables_for_what_ci_cannot_know() {
    let help = run(&repo_root(), ["annotate", "--help"]).success();
    for needle in [
        "CHANGERISK_PERMISSION",
        "CHANGERISK_REVIEW",
        "CHANGERISK_REVIEWERS",
        "CHANGERISK_FAIL_LEVEL",
        "GITHUB_EVENT_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        " --fail-level",
        " --format",
        " --git",
        " --change",
        " --services",
        " --history",
        " --incidents",
        " --policy",
    ] {
        assert!(help.stdout.contains(needle), "{needle} not in --help");
    }
}

// ---------------------------------------------------------------------------------
// The GitHub Action and the GitLab job template, run as their CI would run them.

/// The lines of the block under the line `header` (exactly as written), up to the first
/// line indented no deeper than the header.
fn yaml_block<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| *l == header)
        .unwrap_or_else(|| panic!("no line {header:?}"));
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect()
}

/// `key: value` pairs of a block (values unquoted).
fn yaml_map(block: &[&str]) -> Vec<(String, String)> {
    block
        .iter()
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| {
            (
                k.to_string(),
                v.trim().trim_matches(['"', '\'']).to_string(),
            )
        })
        .collect()
}

/// Builds a repository and its pull request event for the CI tests; returns the
/// repository, its base and head, and the event file (in `out`).
fn ci_repo(out: &Path) -> (Repo, String, String, PathBuf) {
    let (repo, base, head) = pull_request_repo();
    let event = event(out, "github-pull-request.json", &base, &head);
    (repo, base, head, event)
}

#[test]
fn the_github_action_runs_the_release_binary_on_a_pull_request_event() {
    let action = std::fs::read_to_string(repo_root().join("action.yml")).unwrap();
    assert!(action.contains("using: composite"));
    // Inputs and their defaults.
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    let input_block = yaml_block(&action, "inputs:");
    let mut current = None;
    for line in &input_block {
        if line.starts_with("  ") && !line.starts_with("    ") && line.trim_end().ends_with(':') {
            current = Some(line.trim().trim_end_matches(':').to_string());
        } else if let (Some(name), Some(default)) =
            (&current, line.trim().strip_prefix("default: "))
        {
            inputs.insert(name.clone(), default.trim_matches('\'').to_string());
        }
    }
    assert!(
        inputs.contains_key("fail-level") && inputs.contains_key("permission"),
        "{inputs:?}"
    );

    let out = tempdir();
    let (repo, _, _, event) = ci_repo(out.path());
    let summary = out.path().join("summary.md");
    let outputs = out.path().join("outputs.txt");
    let binary = assert_cmd::cargo::cargo_bin("changerisk");
    let mut given = inputs.clone();
    given.insert("binary".into(), binary.display().to_string());
    given.insert("permission".into(), "admin".into());
    given.insert("review".into(), "self_approved".into());
    given.insert("fail-level".into(), "block".into());
    given.insert(
        "services".into(),
        fixture("services.toml").display().to_string(),
    );

    // The step's environment, with ${{ inputs.x }} and ${{ github.action_path }} as the
    // runner evaluates them, and its script.
    let step_env: Vec<(String, String)> = yaml_map(&yaml_block(&action, "      env:"))
        .into_iter()
        .map(|(k, v)| {
            let value = if v == "${{ github.action_path }}" {
                repo_root().display().to_string()
            } else {
                let name = v
                    .strip_prefix("${{ inputs.")
                    .and_then(|r| r.strip_suffix(" }}"))
                    .unwrap_or_else(|| panic!("unexpected env value {v}"));
                given
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("no input {name}"))
            };
            (k, value)
        })
        .collect();
    let script: String = yaml_block(&action, "      run: |")
        .iter()
        .map(|l| format!("{}\n", l.get(8..).unwrap_or("")))
        .collect();
    assert!(
        !script.contains("${{"),
        "inputs reach the script only through env"
    );

    let mut cmd = Command::new("bash");
    cmd.arg("-c").arg(&script).current_dir(repo.path());
    for var in AMBIENT {
        cmd.env_remove(var);
    }
    cmd.envs(step_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_REPOSITORY", "acme/shop");
    let output = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the block gate fails the step:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("rule 'ai-privileged-unreviewed' (block)"),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .next()
            .unwrap()
            .starts_with("::error title=changerisk block%3A ai-privileged-unreviewed::"),
        "{stdout}"
    );
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        outputs.contains("decision=block\n") && outputs.contains("risk=0."),
        "{outputs}"
    );
    assert!(std::fs::read_to_string(&summary)
        .unwrap()
        .contains("### changerisk: BLOCK"));
    // The default format also leaves the comment body and the JSON result.
    let comment = std::fs::read_to_string(repo.path().join("changerisk-comment.md")).unwrap();
    assert!(comment.contains("pr\\-42"), "{comment}");
    let result = json(&std::fs::read_to_string(repo.path().join("changerisk.json")).unwrap());
    assert_eq!(result["change_id"], "pr-42");
    assert_eq!(fact(&result, "ai_involvement").as_deref(), Some("assisted"));
    assert_eq!(fact(&result, "service").as_deref(), Some("checkout"));
}

#[test]
fn the_gitlab_template_runs_the_binary_in_a_merge_request_pipeline() {
    let template = std::fs::read_to_string(repo_root().join("ci/gitlab-changerisk.yml")).unwrap();
    let variables = yaml_map(&yaml_block(&template, "  variables:"));
    let script: Vec<String> = yaml_block(&template, "  script:")
        .iter()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .map(|l| l.trim_matches('\'').to_string())
        .collect();
    assert!(!script.is_empty());
    let report = yaml_map(&yaml_block(&template, "    reports:"));
    assert_eq!(report[0].0, "codequality");

    let out = tempdir();
    let (repo, base, head, _) = ci_repo(out.path());
    let binary = assert_cmd::cargo::cargo_bin("changerisk");
    for line in &script {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(line).current_dir(repo.path());
        for var in AMBIENT {
            cmd.env_remove(var);
        }
        cmd.envs(variables.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CHANGERISK_BIN", &binary)
            .env("CHANGERISK_MODEL", frozen_model())
            .env("CHANGERISK_SERVICES", fixture("services.toml"))
            .env("GITLAB_CI", "true")
            .env("CI_PIPELINE_SOURCE", "merge_request_event")
            .env("CI_MERGE_REQUEST_IID", "7")
            .env("CI_MERGE_REQUEST_TITLE", "Rotate checkout signing keys")
            .env("CI_MERGE_REQUEST_LABELS", "backend,ai-agent")
            .env(
                "CI_MERGE_REQUEST_PROJECT_URL",
                "https://gitlab.example/acme/shop",
            )
            .env("CI_MERGE_REQUEST_DIFF_BASE_SHA", &base)
            .env("CI_COMMIT_SHA", &head)
            .env("CI_PROJECT_NAME", "shop")
            .env("GITLAB_USER_LOGIN", "ana");
        let output = cmd.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "advisory by default:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let report_file = &report[0].1;
    let issues = json(&std::fs::read_to_string(repo.path().join(report_file)).unwrap());
    let issues = issues.as_array().unwrap();
    assert!(issues
        .iter()
        .any(|i| i["check_name"] == "changerisk/ai-privileged-unreviewed"));
    for issue in issues {
        assert_eq!(issue["location"]["path"], "deploy/iam/signer-policy.json");
    }
    let result = json(&std::fs::read_to_string(repo.path().join("changerisk.json")).unwrap());
    assert_eq!(result["change_id"], "mr-7");
    assert_eq!(
        fact(&result, "ai_involvement").as_deref(),
        Some("agent"),
        "the ai-agent label beats the co-author trailer"
    );
    assert_eq!(
        result["facts"]["ai_involvement"]["source"],
        "GitLab label ai-agent"
    );
    assert_eq!(fact(&result, "author").as_deref(), Some("ana"));
    assert!(std::fs::read_to_string(repo.path().join("changerisk.md"))
        .unwrap()
        .contains("mr\\-7"));
}

#[test]
fn a_change_that_is_neither_json_nor_csv_is_named_as_such() {
    let dir = tempdir();
    let mut cmd = changerisk(dir.path());
    for var in AMBIENT {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(["annotate", "--change", "-", "--model", &frozen_model()])
        .write_stdin("not json\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stdin: cannot read as a change")
            && stderr.contains("neither a JSON object"),
        "{stderr}"
    );
}

#[test]
fn tiers_that_cannot_hold_a_change_are_shown_as_none() {
    let dir = tempdir();
    // A model whose training risks were all one value: every cut is that value.
    let mut model: Value =
        serde_json::from_str(&std::fs::read_to_string(frozen_model()).unwrap()).unwrap();
    model["tiers"]["risk_quantiles"] = serde_json::json!(vec![0.01; 1001]);
    model["tiers"]["thresholds"] = serde_json::json!([0.01, 0.01, 0.01]);
    let path = dir.path().join("flat.json");
    std::fs::write(&path, model.to_string()).unwrap();
    let change = fixture("blocked-change.json").display().to_string();
    let flat = path.display().to_string();
    let args = ["--change", &change, "--model", &flat, "--format"];
    let md = annotate(dir.path(), args.iter().chain(&["markdown"]), &[]).success();
    assert!(
        md.stdout
            .contains(r"low tier\; medium\, high and critical start at none\, none\, none"),
        "{}",
        md.stdout
    );
    let result = json(
        &annotate(dir.path(), args.iter().chain(&["json"]), &[])
            .success()
            .stdout,
    );
    assert_eq!(result["tier"], "low");
}

#[test]
fn environment_variables_that_are_not_text_are_refused_only_when_read() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    let change = fixture("blocked-change.json").display().to_string();
    let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff");
    let run = |var: &str| {
        let mut cmd = annotate_command(dir.path());
        let model = frozen_model();
        cmd.args(["--change", &change, "--model", &model, "--format", "json"])
            .env(var, not_utf8);
        run_command(cmd)
    };
    // A variable annotate never reads is no concern of it (it used to panic).
    run("SOME_OTHER_TOOL").success();
    run("CI_MERGE_REQUEST_IID").bad_input(&["CI_MERGE_REQUEST_IID is not UTF-8"]);
    // A path variable is a path, which need not be text.
    run("GITHUB_STEP_SUMMARY").success();
}
