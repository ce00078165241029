//! Reading a change from git: the commits of `BASE..HEAD` (authors, committers and
//! trailer lines, for the AI markers) and the files the change makes (`git diff --numstat`
//! from the merge base to HEAD, the diff a pull request shows).
//!
//! git runs as a subprocess with an argument vector, never through a shell. Both ends
//! of the range are first resolved to commit ids with `git rev-parse --verify
//! --end-of-options`, so a range such as `--output=x..HEAD` can never be read as an
//! option; every later command sees only the resolved ids.

use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// One commit of the range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub author_name: String,
    pub author_email: String,
    pub committer_name: String,
    pub committer_email: String,
    /// Every `Key: value` line of the message, wherever it stands. git itself lists a
    /// trailer only in a last paragraph made of trailers alone, and a hand-edited
    /// message (a sentence above the `Co-authored-by:` line) breaks that; a marker
    /// missed there would read as "no AI", so every such line counts.
    pub trailers: Vec<(String, String)>,
}

/// One changed file, from `--numstat`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileChange {
    /// The path at HEAD (the new path of a rename).
    pub path: String,
    pub added: u64,
    pub deleted: u64,
    /// A binary file: git reports no line counts.
    pub binary: bool,
}

impl FileChange {
    /// Lines added plus lines deleted.
    pub fn lines(&self) -> u64 {
        self.added + self.deleted
    }
}

/// What git says about `BASE..HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitChange {
    pub base: String,
    pub head: String,
    /// Newest first, as `git log` lists them.
    pub commits: Vec<Commit>,
    pub files: Vec<FileChange>,
}

/// Splits `BASE..HEAD` (or `BASE...HEAD`) into its two ends.
pub fn split_range(range: &str) -> Result<(&str, &str)> {
    let bad = || {
        Error::Usage(format!(
            "--git {range:?} is not a range BASE..HEAD (e.g. origin/main..HEAD)"
        ))
    };
    let (base, head) = range
        .split_once("...")
        .or_else(|| range.split_once(".."))
        .ok_or_else(bad)?;
    if base.trim().is_empty() || head.trim().is_empty() {
        return Err(bad());
    }
    Ok((base.trim(), head.trim()))
}

/// Runs `git -C repo args...` and returns its stdout; a failure is bad input that
/// quotes git's own message.
fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>> {
    run_git(repo, args).map_err(|failure| match failure {
        GitFailure::NotRun(message) => Error::Usage(message),
        GitFailure::Failed(stderr) => Error::Usage(format!(
            "git {} failed in {}: {stderr}",
            args.first().copied().unwrap_or(""),
            repo.display(),
        )),
    })
}

/// Why a git command gave no output: git could not be started at all, or it ran and
/// failed (with its stderr).
enum GitFailure {
    NotRun(String),
    Failed(String),
}

fn run_git(repo: &Path, args: &[&str]) -> std::result::Result<Vec<u8>, GitFailure> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| {
            GitFailure::NotRun(format!(
                "cannot run git (is it installed and on PATH?): {e}"
            ))
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        // 126/127: the shell's "cannot execute" and "not found", from a wrapper script.
        if matches!(output.status.code(), Some(126 | 127)) {
            return Err(GitFailure::NotRun(format!("cannot run git: {stderr}")));
        }
        return Err(GitFailure::Failed(stderr));
    }
    Ok(output.stdout)
}

/// Checks that `repo` is a directory git can read as a repository, so that a later
/// failure to find a commit means what it says.
fn check_repository(repo: &Path) -> Result<()> {
    if !repo.exists() {
        return Err(Error::Usage(format!(
            "--repo {}: no such directory",
            repo.display()
        )));
    }
    if !repo.is_dir() {
        return Err(Error::Usage(format!(
            "--repo {}: is not a directory (give the checkout's directory)",
            repo.display()
        )));
    }
    match run_git(repo, &["rev-parse", "--git-dir"]) {
        Ok(_) => Ok(()),
        Err(GitFailure::NotRun(message)) => Err(Error::Usage(message)),
        // git's own words for the rest (a repository owned by another user, say, where
        // the fix is `safe.directory`, not another --repo).
        Err(GitFailure::Failed(stderr)) if stderr.contains("not a git repository") => {
            Err(Error::Usage(format!(
                "{} is not a git repository (git: {stderr}); give --repo the checkout's directory",
                repo.display()
            )))
        }
        Err(GitFailure::Failed(stderr)) => Err(Error::Usage(format!(
            "git cannot read the repository at {}: {stderr}",
            repo.display()
        ))),
    }
}

/// Resolves a revision to a full commit id.
fn resolve(repo: &Path, rev: &str) -> Result<String> {
    let spec = format!("{rev}^{{commit}}");
    let out = git(
        repo,
        &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec],
    )
    .map_err(|_| {
        Error::Usage(format!(
            "git: {rev:?} is not a commit in {} (in CI, check out the full history, e.g. actions/checkout with fetch-depth: 0, or GIT_DEPTH: 0 on GitLab)",
            repo.display()
        ))
    })?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Reads the commits and changed files of `range` in the repository at `repo`.
pub fn read_range(repo: &Path, range: &str) -> Result<GitChange> {
    let (base, head) = split_range(range)?;
    check_repository(repo)?;
    let base = resolve(repo, base)?;
    let head = resolve(repo, head)?;
    let log = git(
        repo,
        &[
            "log",
            "--no-color",
            "--format=%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%B%x1e",
            &format!("{base}..{head}"),
        ],
    )?;
    let numstat = git(
        repo,
        &[
            "diff",
            "--numstat",
            "-z",
            "-M",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            &format!("{base}...{head}"),
        ],
    )?;
    let commits = parse_log(&String::from_utf8_lossy(&log));
    if commits.is_empty() {
        // No commits is no evidence of anything (not of "no AI"): nothing to annotate.
        return Err(Error::Usage(format!(
            "git: {range:?} holds no commits (its head is already in its base): nothing to annotate; give the pull request's base and head, e.g. origin/main..HEAD"
        )));
    }
    Ok(GitChange {
        commits,
        files: parse_numstat(&numstat),
        base,
        head,
    })
}

/// Parses the `git log` format of [`read_range`].
fn parse_log(text: &str) -> Vec<Commit> {
    text.split('\x1e')
        .filter_map(|record| {
            let record = record.trim_start_matches(['\n', '\r']);
            let fields: Vec<&str> = record.splitn(6, '\x1f').collect();
            let [id, an, ae, cn, ce, message] = fields[..] else {
                return None;
            };
            Some(Commit {
                id: id.trim().to_string(),
                author_name: an.to_string(),
                author_email: ae.to_string(),
                committer_name: cn.to_string(),
                committer_email: ce.to_string(),
                trailers: trailer_lines(message),
            })
        })
        .collect()
}

/// The `Key: value` lines of a commit message, wherever they stand, read as git reads a
/// trailer: the key may have spaces before its colon (`Co-authored-by : ...`), and an
/// indented line continues the value above it (a folded trailer). An indented line that
/// continues nothing (quoted code, say `    Generated-by: protoc`) is not a trailer.
fn trailer_lines(message: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut continues = false;
    for line in message.lines() {
        if line.starts_with([' ', '\t']) {
            if let (true, Some((_, value))) = (continues, out.last_mut()) {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
            continue;
        }
        continues = match line.split_once(':') {
            Some((key, value)) => {
                let key = key.trim_end();
                let is_key = !key.is_empty() && !key.contains(char::is_whitespace);
                if is_key {
                    out.push((key.to_string(), value.trim().to_string()));
                }
                is_key
            }
            None => false,
        };
    }
    out
}

/// Parses `git diff --numstat -z`: `added\tdeleted\tpath\0`, or for a rename
/// `added\tdeleted\t\0old\0new\0`; binary files show `-` for both counts.
fn parse_numstat(bytes: &[u8]) -> Vec<FileChange> {
    let text = String::from_utf8_lossy(bytes);
    let mut tokens = text.split('\0');
    let mut files = Vec::new();
    while let Some(token) = tokens.next() {
        let mut parts = token.splitn(3, '\t');
        let (Some(added), Some(deleted), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = if path.is_empty() {
            // A rename: the old path, then the new one.
            let _old = tokens.next();
            tokens.next().unwrap_or_default().to_string()
        } else {
            path.to_string()
        };
        let binary = added == "-" || deleted == "-";
        files.push(FileChange {
            path,
            added: added.parse().unwrap_or(0),
            deleted: deleted.parse().unwrap_or(0),
            binary,
        });
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_have_two_ends() {
        assert_eq!(
            split_range("origin/main..HEAD").unwrap(),
            ("origin/main", "HEAD")
        );
        assert_eq!(split_range("a...b").unwrap(), ("a", "b"));
        assert!(matches!(split_range("HEAD"), Err(Error::Usage(_))));
        assert!(split_range("..HEAD").is_err());
    }

    #[test]
    fn numstat_handles_renames_and_binaries() {
        let raw = b"3\t1\tsrc/a.rs\x000\t0\t\x00old/b.rs\x00new/b.rs\x00-\t-\tlogo.png\x00";
        let files = parse_numstat(raw);
        assert_eq!(
            files,
            [
                FileChange {
                    path: "src/a.rs".into(),
                    added: 3,
                    deleted: 1,
                    binary: false
                },
                FileChange {
                    path: "new/b.rs".into(),
                    added: 0,
                    deleted: 0,
                    binary: false
                },
                FileChange {
                    path: "logo.png".into(),
                    added: 0,
                    deleted: 0,
                    binary: true
                },
            ]
        );
    }

    #[test]
    fn trailers_are_read_as_git_reads_them_anywhere_in_the_message() {
        let message = "Title\n\nCo-authored-by : Claude <noreply@anthropic.com>\nAssisted-by:\n  Kiro\n   (the IDE)\nSome prose here.\n    Generated-by: protoc-gen-go\nhttps://example.org/x\n";
        let pairs: Vec<(&str, &str)> = vec![
            ("Co-authored-by", "Claude <noreply@anthropic.com>"),
            ("Assisted-by", "Kiro (the IDE)"),
            ("https", "//example.org/x"),
        ];
        let got = trailer_lines(message);
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, pairs);
    }

    #[test]
    fn log_records_carry_every_trailer_line_of_the_message() {
        // The first message's last paragraph mixes prose and trailers, so git would
        // list none of them as trailers; "Fixes the bug: x" is prose, not a key.
        let raw = "abc\x1fAna\x1fana@x.org\x1fAna\x1fana@x.org\x1fTitle\n\nFixes the bug: x\nCo-authored-by: Claude <noreply@anthropic.com>\nAssisted-by: kiro\n\x1e\ndef\x1fBo\x1fbo@x.org\x1fBo\x1fbo@x.org\x1fJust a title\n\x1e\n";
        let commits = parse_log(raw);
        assert_eq!(commits.len(), 2);
        assert_eq!(
            commits[0].trailers,
            [
                (
                    "Co-authored-by".to_string(),
                    "Claude <noreply@anthropic.com>".to_string()
                ),
                ("Assisted-by".to_string(), "kiro".to_string())
            ]
        );
        assert!(commits[1].trailers.is_empty());
        assert_eq!(commits[1].id, "def");
    }
}
