//! AI involvement from what tools actually leave in commits: co-author trailers, author
//! and committer identities, and `Assisted-by:` / `Generated-by:` trailers.
//!
//! Every rule is one row of a table below, so the README (docs/annotate.md) and the code
//! say the same thing. Matching ignores case. A trailer that carries an email
//! (`Name <email>`) is matched by its email only, so a person who happens to be called
//! Claude is not taken for the tool; a trailer without an email is matched by name.
//!
//! Agent vs assisted (the rule): a bot or agent as author or committer, or a
//! trailer naming an agent (`Cursor Agent`, `Generated-by:`), makes the change `agent`;
//! a co-author trailer of an AI tool on a person's commit, or `Assisted-by:`, makes it
//! `assisted`. A change's involvement is the strongest over its commits.
//!
//! | marker | where | matched by | involvement | ai_tool |
//! |---|---|---|---|---|
//! | Claude | `Co-authored-by:` | email `noreply@anthropic.com`; without email, name `Claude` or `Claude …` | assisted | claude-code |
//! | Copilot | `Co-authored-by:` | email `<id>+Copilot@users.noreply.github.com`; without email, name `Copilot` or `GitHub Copilot` | assisted | copilot |
//! | Cursor Agent | `Co-authored-by:` | email `cursoragent@cursor.com`; without email, name `Cursor Agent` or `Cursor` | agent | cursor |
//! | aider | `Co-authored-by:` | email `…@aider.chat`; without email, name `aider …` | assisted | aider |
//! | aider | author or committer | name ending in `(aider)` | agent | aider |
//! | Copilot coding agent | author or committer | name `copilot-swe-agent[bot]` or `Copilot`, or email `<id>+Copilot@users.noreply.github.com` / `<id>+copilot-swe-agent[bot]@users.noreply.github.com` | agent | copilot |
//! | any tool | `Assisted-by:` | any value | assisted | the value's tool (below) |
//! | any tool | `Generated-by:` | any value | agent | the value's tool (below) |
//!
//! The tool named by an `Assisted-by:` / `Generated-by:` value is the co-author table's
//! tool when the value matches a row there, else the first known name it contains
//! (`claude`, `copilot`, `cursor`, `aider`, `kiro`, `amazon q`, `codex`, `gemini`,
//! `devin`, `windsurf`), else the value itself reduced to a short slug.

use crate::schema::AiInvolvement;

/// An AI identity that appears as a co-author.
struct CoAuthor {
    tool: &'static str,
    involvement: AiInvolvement,
    /// Email matches: exact addresses, or `+suffix`/`@domain` endings (lowercase).
    emails: &'static [EmailRule],
    /// Names (lowercase) matched exactly, and prefixes (ending in a space).
    names: &'static [&'static str],
    name_prefixes: &'static [&'static str],
}

enum EmailRule {
    Is(&'static str),
    EndsWith(&'static str),
}

impl EmailRule {
    fn matches(&self, email: &str) -> bool {
        match self {
            EmailRule::Is(e) => email == *e,
            EmailRule::EndsWith(e) => email.ends_with(e),
        }
    }
}

const CO_AUTHORS: &[CoAuthor] = &[
    CoAuthor {
        tool: "claude-code",
        involvement: AiInvolvement::Assisted,
        emails: &[EmailRule::Is("noreply@anthropic.com")],
        names: &["claude"],
        name_prefixes: &["claude "],
    },
    CoAuthor {
        tool: "copilot",
        involvement: AiInvolvement::Assisted,
        emails: &[EmailRule::EndsWith("+copilot@users.noreply.github.com")],
        names: &["copilot", "github copilot"],
        name_prefixes: &[],
    },
    CoAuthor {
        tool: "cursor",
        involvement: AiInvolvement::Agent,
        emails: &[EmailRule::Is("cursoragent@cursor.com")],
        names: &["cursor agent", "cursor"],
        name_prefixes: &[],
    },
    CoAuthor {
        tool: "aider",
        involvement: AiInvolvement::Assisted,
        emails: &[EmailRule::EndsWith("@aider.chat")],
        names: &["aider"],
        name_prefixes: &["aider "],
    },
];

/// Known tool names inside free text, and the `ai_tool` they stand for.
const TOOL_WORDS: &[(&str, &str)] = &[
    ("claude", "claude-code"),
    ("copilot", "copilot"),
    ("cursor", "cursor"),
    ("aider", "aider"),
    ("kiro", "kiro"),
    ("amazon q", "amazon-q"),
    ("amazon-q", "amazon-q"),
    ("codex", "codex"),
    ("gemini", "gemini"),
    ("devin", "devin"),
    ("windsurf", "windsurf"),
];

/// One AI marker found in a commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Marker {
    /// The commit, abbreviated.
    pub commit: String,
    /// What was found, e.g. `Co-authored-by trailer` or `author name ends in (aider)`.
    pub marker: String,
    #[serde(serialize_with = "level_str")]
    pub involvement: AiInvolvement,
    pub tool: String,
}

fn level_str<S: serde::Serializer>(level: &AiInvolvement, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(level.as_str())
}

/// Splits `Name <email>` into the name and the lowercase email (if any).
pub fn split_identity(value: &str) -> (String, Option<String>) {
    let value = value.trim();
    match (value.rfind('<'), value.rfind('>')) {
        (Some(open), Some(close)) if open < close => (
            value[..open].trim().to_string(),
            Some(value[open + 1..close].trim().to_ascii_lowercase()).filter(|e| !e.is_empty()),
        ),
        _ => (value.to_string(), None),
    }
}

/// The co-author row an identity matches: by email when there is one, else by name.
fn co_author(value: &str) -> Option<&'static CoAuthor> {
    let (name, email) = split_identity(value);
    let name = name.to_lowercase();
    CO_AUTHORS.iter().find(|c| match &email {
        Some(email) => c.emails.iter().any(|r| r.matches(email)),
        None => {
            c.names.contains(&name.as_str()) || c.name_prefixes.iter().any(|p| name.starts_with(p))
        }
    })
}

/// Whether an author or committer identity is an AI agent; returns the tool.
pub fn agent_identity(name: &str, email: &str) -> Option<&'static str> {
    let name = name.trim().to_lowercase();
    let email = email.trim().to_ascii_lowercase();
    if name.ends_with("(aider)") {
        return Some("aider");
    }
    let copilot = name == "copilot-swe-agent[bot]"
        || name == "copilot"
        || email.ends_with("+copilot@users.noreply.github.com")
        || email.ends_with("+copilot-swe-agent[bot]@users.noreply.github.com");
    copilot.then_some("copilot")
}

/// The `ai_tool` a free-text value names (an `Assisted-by:` / `Generated-by:` value).
pub fn tool_of(value: &str) -> String {
    if let Some(c) = co_author(value) {
        return c.tool.to_string();
    }
    let (name, _) = split_identity(value);
    let lower = name.to_lowercase();
    if let Some((_, tool)) = TOOL_WORDS.iter().find(|(word, _)| lower.contains(word)) {
        return (*tool).to_string();
    }
    slug(&lower)
}

/// A short identifier from free text: lowercase letters, digits, `.` and `-`, at most 32
/// characters, so an untrusted value never reaches the outputs as more than a name.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '.' {
            out.push(ch.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.len() >= 32 {
            break;
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The AI markers of one commit.
pub fn commit_markers(
    commit: &str,
    author: (&str, &str),
    committer: (&str, &str),
    trailers: &[(String, String)],
) -> Vec<Marker> {
    let short: String = commit.chars().take(12).collect();
    let mut found = Vec::new();
    let mut add = |marker: String, involvement, tool: &str| {
        found.push(Marker {
            commit: short.clone(),
            marker,
            involvement,
            tool: tool.to_string(),
        })
    };
    // One identity marker per commit: the author, else the committer.
    let identity = [("author", author), ("committer", committer)]
        .into_iter()
        .find_map(|(role, (name, email))| agent_identity(name, email).map(|t| (role, t)));
    if let Some((role, tool)) = identity {
        add(format!("{role} is an AI agent"), AiInvolvement::Agent, tool);
    }
    for (key, value) in trailers {
        match key.trim().to_ascii_lowercase().as_str() {
            "co-authored-by" => {
                if let Some(c) = co_author(value) {
                    add("Co-authored-by trailer".into(), c.involvement, c.tool);
                }
            }
            "assisted-by" => add(
                "Assisted-by trailer".into(),
                AiInvolvement::Assisted,
                &tool_of(value),
            ),
            "generated-by" => add(
                "Generated-by trailer".into(),
                AiInvolvement::Agent,
                &tool_of(value),
            ),
            _ => {}
        }
    }
    found
}

/// The strongest marker (agent over assisted; the first found among equals).
pub fn strongest(markers: &[Marker]) -> Option<&Marker> {
    markers
        .iter()
        .rev()
        .max_by_key(|m| m.involvement)
        .filter(|m| m.involvement != AiInvolvement::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trailer(key: &str, value: &str) -> Vec<(String, String)> {
        vec![(key.to_string(), value.to_string())]
    }

    fn one(author: (&str, &str), trailers: &[(String, String)]) -> Option<(AiInvolvement, String)> {
        let m = commit_markers("abc", author, author, trailers);
        strongest(&m).map(|m| (m.involvement, m.tool.clone()))
    }

    const PERSON: (&str, &str) = ("Ana Lima", "ana@example.com");

    #[test]
    fn co_author_trailers_match_by_email_when_present() {
        let claude = trailer("Co-Authored-By", "Claude <noreply@anthropic.com>");
        assert_eq!(
            one(PERSON, &claude),
            Some((AiInvolvement::Assisted, "claude-code".into()))
        );
        // A person called Claude, with their own address, is not the tool.
        let person = trailer("co-authored-by", "Claude Monet <claude@example.com>");
        assert_eq!(one(PERSON, &person), None);
        // Without an email the name decides.
        let bare = trailer("CO-AUTHORED-BY", "claude opus 4");
        assert_eq!(
            one(PERSON, &bare),
            Some((AiInvolvement::Assisted, "claude-code".into()))
        );
        let copilot = trailer(
            "Co-authored-by",
            "Copilot <175728472+Copilot@users.noreply.github.com>",
        );
        assert_eq!(
            one(PERSON, &copilot),
            Some((AiInvolvement::Assisted, "copilot".into()))
        );
        let cursor = trailer("Co-authored-by", "Cursor Agent <CursorAgent@cursor.com>");
        assert_eq!(
            one(PERSON, &cursor),
            Some((AiInvolvement::Agent, "cursor".into()))
        );
    }

    #[test]
    fn agent_authors_make_the_commit_agent() {
        assert_eq!(
            one(("Ana Lima (aider)", "ana@example.com"), &[]),
            Some((AiInvolvement::Agent, "aider".into()))
        );
        assert_eq!(
            one(
                (
                    "copilot-swe-agent[bot]",
                    "198982749+Copilot@users.noreply.github.com"
                ),
                &[]
            ),
            Some((AiInvolvement::Agent, "copilot".into()))
        );
        assert_eq!(one(("dependabot[bot]", "support@github.com"), &[]), None);
        // Author and committer both aider: one marker for the commit.
        let aider = ("Bo (aider)", "bo@example.com");
        assert_eq!(commit_markers("c", aider, aider, &[]).len(), 1);
    }

    #[test]
    fn assisted_and_generated_trailers_name_their_tool() {
        assert_eq!(
            one(PERSON, &trailer("assisted-by", "Kiro (Amazon)")),
            Some((AiInvolvement::Assisted, "kiro".into()))
        );
        assert_eq!(
            one(
                PERSON,
                &trailer("Generated-By", "Some New Tool v2 <bot@tool.dev>")
            ),
            Some((AiInvolvement::Agent, "some-new-tool-v2".into()))
        );
        // Unrelated trailers are not markers.
        assert_eq!(
            one(
                PERSON,
                &trailer("Signed-off-by", "Claude <noreply@anthropic.com>")
            ),
            None
        );
    }

    #[test]
    fn strongest_prefers_agent_then_first_found() {
        let mut t = trailer("Co-authored-by", "Claude <noreply@anthropic.com>");
        t.extend(trailer("Generated-by", "codex"));
        t.extend(trailer("Generated-by", "gemini"));
        assert_eq!(
            one(PERSON, &t),
            Some((AiInvolvement::Agent, "codex".into()))
        );
    }

    #[test]
    fn slugs_keep_only_safe_characters() {
        assert_eq!(slug("::set-output name=x::<b>"), "set-output-name-x-b");
        assert!(slug(&"a".repeat(100)).len() <= 32);
    }
}
