//! What the CI system knows about the change: the GitHub event payload
//! (`$GITHUB_EVENT_PATH`) or GitLab's `CI_MERGE_REQUEST_*` variables.
//!
//! | fact | GitHub (pull_request, pull_request_target, pull_request_review, push) | GitLab |
//! |---|---|---|
//! | change_id | `pr-<number>` (push: the head commit, 12 characters) | `mr-<CI_MERGE_REQUEST_IID>` (else `CI_COMMIT_SHA`, 12 characters) |
//! | author | `pull_request.user.login` (push: `pusher.name`) | `GITLAB_USER_LOGIN` |
//! | ai_involvement | label `ai-agent` -> agent, `ai-assisted` -> assisted; a pull request opened by `Copilot` / `copilot-swe-agent[bot]` -> agent | `CI_MERGE_REQUEST_LABELS` the same way |
//! | review_status, reviewer_count | a `pull_request_review` event with state `approved`: approved by 1 (self_approved when the reviewer is the author) | `CI_MERGE_REQUEST_APPROVED=true`: approved by 1 |
//! | service (fallback) | the repository name of `GITHUB_REPOSITORY` | `CI_PROJECT_NAME` |
//! | BASE..HEAD (when no `--git`) | `pull_request.base.sha`..`pull_request.head.sha` (push: `before`..`after`) | `CI_MERGE_REQUEST_DIFF_BASE_SHA`..`CI_COMMIT_SHA` |
//!
//! The permission level of the principal that applies the change is never in CI
//! metadata; nor, on a plain pull_request event, is the review outcome. Those come from
//! flags or their environment variables, or stay unknown.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::schema::{AiInvolvement, Review};

use super::markers::agent_identity;

/// Which CI system the metadata came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
}

impl Provider {
    /// The name used in fact sources.
    pub fn name(self) -> &'static str {
        match self {
            Provider::GitHub => "GitHub",
            Provider::GitLab => "GitLab",
        }
    }
}

/// The change as the CI system describes it; every field may be absent.
#[derive(Debug, Clone, PartialEq)]
pub struct CiChange {
    pub provider: Provider,
    pub change_id: Option<String>,
    /// Pull/merge request title (untrusted text).
    pub title: Option<String>,
    pub url: Option<String>,
    pub author: Option<String>,
    /// AI involvement with the evidence for it.
    pub ai: Option<(AiInvolvement, String)>,
    pub review: Option<(Review, u64, String)>,
    pub repository: Option<String>,
    pub base: Option<String>,
    pub head: Option<String>,
    /// A file that exists in the repository, to anchor reports when no changed file is
    /// known (GitLab: `CI_CONFIG_PATH`).
    pub anchor: Option<String>,
}

impl CiChange {
    fn new(provider: Provider) -> CiChange {
        CiChange {
            provider,
            change_id: None,
            title: None,
            url: None,
            author: None,
            ai: None,
            review: None,
            repository: None,
            base: None,
            head: None,
            anchor: None,
        }
    }
}

/// The CI metadata present: a GitHub event file (given, or `$GITHUB_EVENT_PATH`) or a
/// GitLab merge request pipeline; `None` outside CI.
pub fn detect(event: Option<&Path>, env: &HashMap<String, String>) -> Result<Option<CiChange>> {
    if let Some(path) = event {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        return github(&text, &path.display().to_string(), env).map(Some);
    }
    if env.get("GITLAB_CI").is_some_and(|v| v == "true") || env.contains_key("CI_MERGE_REQUEST_IID")
    {
        return Ok(Some(gitlab(env)));
    }
    Ok(None)
}

/// AI involvement from labels (`ai-agent`, `ai-assisted`), the strongest present.
fn ai_from_labels<'a>(
    labels: impl IntoIterator<Item = &'a str>,
    provider: Provider,
) -> Option<(AiInvolvement, String)> {
    labels
        .into_iter()
        .filter_map(|l| match l.trim().to_ascii_lowercase().as_str() {
            "ai-agent" => Some((AiInvolvement::Agent, "ai-agent")),
            "ai-assisted" => Some((AiInvolvement::Assisted, "ai-assisted")),
            _ => None,
        })
        .max_by_key(|(level, _)| *level)
        .map(|(level, label)| (level, format!("{} label {label}", provider.name())))
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.trim().is_empty())
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

/// Reads a GitHub event payload.
pub fn github(payload: &str, file: &str, env: &HashMap<String, String>) -> Result<CiChange> {
    let event: Value = serde_json::from_str(payload).map_err(|e| Error::BadConfig {
        file: file.into(),
        message: format!("not a GitHub event payload (JSON): {e}"),
    })?;
    if !event.is_object() {
        return Err(Error::BadConfig {
            file: file.into(),
            message: "not a GitHub event payload: expected a JSON object".into(),
        });
    }
    let mut ci = CiChange::new(Provider::GitHub);
    ci.repository = env
        .get("GITHUB_REPOSITORY")
        .cloned()
        .or_else(|| text(&event, "/repository/full_name"))
        .and_then(|r| r.rsplit('/').next().map(str::to_string))
        .filter(|r| !r.is_empty());
    if let Some(pr) = event.get("pull_request").filter(|p| p.is_object()) {
        ci.change_id = text(pr, "/number").map(|n| format!("pr-{n}"));
        ci.title = text(pr, "/title");
        ci.url = text(pr, "/html_url");
        ci.author = text(pr, "/user/login");
        ci.base = text(pr, "/base/sha");
        ci.head = text(pr, "/head/sha");
        let labels: Vec<String> = pr
            .get("labels")
            .and_then(Value::as_array)
            .map(|ls| ls.iter().filter_map(|l| text(l, "/name")).collect())
            .unwrap_or_default();
        ci.ai = ai_from_labels(labels.iter().map(String::as_str), Provider::GitHub);
        if let Some(login) = &ci.author {
            if agent_identity(login, "").is_some() {
                ci.ai = Some((
                    AiInvolvement::Agent,
                    "GitHub pull request opened by an AI agent".into(),
                ));
            }
        }
        if text(&event, "/review/state").is_some_and(|s| s.eq_ignore_ascii_case("approved")) {
            let reviewer = text(&event, "/review/user/login");
            let own = reviewer.is_some() && reviewer == ci.author;
            ci.review = Some(if own {
                (
                    Review::SelfApproved,
                    0,
                    "GitHub review by the author".into(),
                )
            } else {
                (
                    Review::Approved,
                    1,
                    "GitHub pull_request_review event (approved)".into(),
                )
            });
        }
    } else {
        // A push: the pushed commits.
        ci.head = text(&event, "/after");
        ci.base = text(&event, "/before").filter(|b| b.chars().any(|c| c != '0'));
        ci.change_id = ci.head.as_deref().map(short);
        ci.author = text(&event, "/pusher/name");
        ci.title = text(&event, "/head_commit/message")
            .map(|m| m.lines().next().unwrap_or_default().to_string());
    }
    Ok(ci)
}

/// Reads GitLab's predefined variables.
pub fn gitlab(env: &HashMap<String, String>) -> CiChange {
    let get = |k: &str| env.get(k).filter(|v| !v.trim().is_empty()).cloned();
    let mut ci = CiChange::new(Provider::GitLab);
    ci.change_id = get("CI_MERGE_REQUEST_IID")
        .map(|n| format!("mr-{n}"))
        .or_else(|| get("CI_COMMIT_SHA").map(|s| short(&s)));
    ci.title = get("CI_MERGE_REQUEST_TITLE");
    ci.url = match (
        get("CI_MERGE_REQUEST_PROJECT_URL"),
        get("CI_MERGE_REQUEST_IID"),
    ) {
        (Some(project), Some(iid)) => Some(format!("{project}/-/merge_requests/{iid}")),
        _ => None,
    };
    ci.author = get("GITLAB_USER_LOGIN");
    let labels = get("CI_MERGE_REQUEST_LABELS").unwrap_or_default();
    ci.ai = ai_from_labels(labels.split(','), Provider::GitLab);
    if get("CI_MERGE_REQUEST_APPROVED").is_some_and(|v| v == "true") {
        ci.review = Some((
            Review::Approved,
            1,
            "GitLab CI_MERGE_REQUEST_APPROVED".into(),
        ));
    }
    ci.repository = get("CI_PROJECT_NAME");
    ci.base = get("CI_MERGE_REQUEST_DIFF_BASE_SHA");
    ci.head = get("CI_COMMIT_SHA");
    ci.anchor = Some(get("CI_CONFIG_PATH").unwrap_or_else(|| ".gitlab-ci.yml".into()));
    ci
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn github_pull_request_payload() {
        let payload = r#"{"pull_request": {"number": 12, "title": "Rotate keys", "html_url": "https://example.test/pr/12",
            "user": {"login": "ana"}, "labels": [{"name": "AI-Assisted"}, {"name": "bug"}],
            "base": {"sha": "b1"}, "head": {"sha": "h1"}}}"#;
        let ci = github(
            payload,
            "event.json",
            &env(&[("GITHUB_REPOSITORY", "acme/checkout")]),
        )
        .unwrap();
        assert_eq!(ci.change_id.as_deref(), Some("pr-12"));
        assert_eq!(ci.author.as_deref(), Some("ana"));
        assert_eq!(ci.ai.as_ref().map(|a| a.0), Some(AiInvolvement::Assisted));
        assert_eq!(ci.repository.as_deref(), Some("checkout"));
        assert_eq!(
            (ci.base.as_deref(), ci.head.as_deref()),
            (Some("b1"), Some("h1"))
        );
        assert_eq!(ci.review, None);
    }

    #[test]
    fn a_github_payload_that_is_not_an_object_is_refused() {
        for payload in ["[]", "\"x\"", "3", "null"] {
            let e = github(payload, "event.json", &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("event.json") && e.contains("a JSON object"),
                "{payload}: {e}"
            );
        }
    }

    #[test]
    fn github_review_and_agent_author() {
        let payload = r#"{"pull_request": {"number": 3, "user": {"login": "Copilot"}, "labels": []},
            "review": {"state": "APPROVED", "user": {"login": "bo"}}}"#;
        let ci = github(payload, "e.json", &HashMap::new()).unwrap();
        assert_eq!(ci.ai.as_ref().map(|a| a.0), Some(AiInvolvement::Agent));
        assert_eq!(
            ci.review.as_ref().map(|r| (r.0, r.1)),
            Some((Review::Approved, 1))
        );
        assert!(matches!(
            github("{", "e.json", &HashMap::new()),
            Err(Error::BadConfig { .. })
        ));
    }

    #[test]
    fn gitlab_merge_request_variables() {
        let ci = gitlab(&env(&[
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_MERGE_REQUEST_TITLE", "Add flag"),
            ("CI_MERGE_REQUEST_LABELS", "backend,ai-agent"),
            ("CI_MERGE_REQUEST_APPROVED", "true"),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", "b"),
            ("CI_COMMIT_SHA", "h"),
            ("GITLAB_USER_LOGIN", "cy"),
        ]));
        assert_eq!(ci.change_id.as_deref(), Some("mr-7"));
        assert_eq!(ci.ai.as_ref().map(|a| a.0), Some(AiInvolvement::Agent));
        assert_eq!(ci.review.as_ref().map(|r| r.0), Some(Review::Approved));
        assert_eq!(ci.anchor.as_deref(), Some(".gitlab-ci.yml"));
    }
}
