//! The annotation where reviewers look: GitHub workflow commands, step summary and step
//! outputs; a GitLab Code Quality report; SARIF 2.1.0; a Markdown PR comment; JSON.
//!
//! Everything that comes from the change (titles, author names, paths, service and tool
//! names, even policy text) is untrusted. For GitHub workflow commands, `%`, CR and LF
//! are escaped in messages, and `:` and `,` too in properties, so no value can end a
//! command early or start a new one. Markdown escapes every ASCII punctuation character
//! with a backslash (so no HTML tag, link, image, emphasis or table cell can open),
//! turns line breaks into spaces and puts a zero-width space after `@` so that no
//! mention pings anyone.

use serde_json::{json, Value};

use super::{Annotation, FactView, Verdict};

/// The output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Github,
    Gitlab,
    Sarif,
    Markdown,
    Json,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Github,
        Format::Gitlab,
        Format::Sarif,
        Format::Markdown,
        Format::Json,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Github => "github",
            Format::Gitlab => "gitlab",
            Format::Sarif => "sarif",
            Format::Markdown => "markdown",
            Format::Json => "json",
        }
    }

    /// Parses a format name.
    pub fn parse(name: &str) -> Option<Format> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// Escapes the message of a GitHub workflow command.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property (e.g. `title=`) of a GitHub workflow command.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Makes untrusted text inert in Markdown (and in the HTML GitHub renders from it).
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        match ch {
            '\n' | '\r' | '\t' => out.push(' '),
            '@' => out.push_str("@\u{200B}"),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The risk as a percentage.
fn percent(risk: f64) -> String {
    format!("{:.1}%", 100.0 * risk)
}

/// A short headline of the change: id, title and author.
fn headline(a: &Annotation) -> String {
    let mut s = a.change_id.clone();
    if let Some(title) = &a.title {
        s.push_str(&format!(" \"{title}\""));
    }
    if let Some(author) = a.facts.get("author").and_then(|f| f.value.as_ref()) {
        s.push_str(&format!(" by {author}"));
    }
    s
}

fn verdict_text(v: &Verdict) -> String {
    let mut s = v.description.clone();
    if !v.because.is_empty() {
        s.push_str(&format!(" Because {}.", v.because.join("; ")));
    }
    if !v.certain {
        s.push_str(" (Fires for the worst case of the unknown facts.)");
    }
    s
}

/// What the `github` format writes: workflow commands for stdout, the step summary
/// (Markdown, appended to `$GITHUB_STEP_SUMMARY`) and step outputs (`$GITHUB_OUTPUT`).
pub struct GithubOutput {
    pub annotations: String,
    pub summary: String,
    pub outputs: String,
}

/// Renders the `github` format. Annotations come most important first, since GitHub
/// shows only about ten per step: block rules, warn rules, the risk, unknown facts.
pub fn github(a: &Annotation) -> GithubOutput {
    let mut lines = Vec::new();
    let mut command = |level: &str, title: String, message: String| {
        lines.push(format!(
            "::{level} title={}::{}",
            escape_property(&title),
            escape_data(&message)
        ));
    };
    for v in a.violations() {
        let level = if v.action == "block" {
            "error"
        } else {
            "warning"
        };
        command(
            level,
            format!("changerisk {}: {}", v.action, v.id),
            verdict_text(v),
        );
    }
    let level = if a.tier_index >= 2 {
        "warning"
    } else {
        "notice"
    };
    command(
        level,
        format!("changerisk: risk {} ({})", percent(a.risk), a.tier),
        format!(
            "{}: risk {} ({} tier), decision {}. {}",
            headline(a),
            percent(a.risk),
            a.tier,
            a.decision.as_str(),
            reasons_sentence(a)
        ),
    );
    for u in &a.unknown {
        command(
            "warning",
            format!("changerisk: {} unknown", u.field),
            format!(
                "{} is unknown, so the change was scored as the worst case ({}); {}.",
                u.field, u.scored_as, u.hint
            ),
        );
    }
    for w in &a.warnings {
        command("warning", "changerisk".into(), w.clone());
    }
    GithubOutput {
        annotations: lines.join("\n"),
        summary: markdown(a),
        outputs: format!(
            "risk={:.6}\ntier={}\ndecision={}\n",
            a.risk,
            a.tier,
            a.decision.as_str()
        ),
    }
}

fn reasons_sentence(a: &Annotation) -> String {
    if a.reasons.is_empty() {
        "No factor raises the risk much.".into()
    } else {
        format!("Why: {}.", a.reasons.join("; "))
    }
}

/// A fact's value as shown: the value, or what an unknown one was scored as.
fn fact_value(f: &FactView) -> String {
    match (&f.value, &f.scored_as) {
        (Some(v), _) => v.clone(),
        (None, Some(s)) if !s.is_empty() => format!("unknown (scored as {s})"),
        (None, _) => "unknown".into(),
    }
}

/// Renders the Markdown PR comment (also the GitHub step summary).
pub fn markdown(a: &Annotation) -> String {
    let e = escape_markdown;
    let mut md = String::new();
    md.push_str("<!-- changerisk -->\n");
    md.push_str(&format!(
        "### changerisk: {} (risk {}, {} tier)\n\n",
        a.decision.as_str().to_uppercase(),
        e(&percent(a.risk)),
        a.tier
    ));
    md.push_str(&format!("**{}**", e(&a.change_id)));
    if let Some(title) = &a.title {
        md.push_str(&format!(" {}", e(title)));
    }
    if let Some(url) = &a.url {
        md.push_str(&format!(" ({})", e(url)));
    }
    md.push_str("\n\n");
    let fact = |c: &str| a.facts.get(c).map(fact_value).unwrap_or_default();
    md.push_str("| | |\n|---|---|\n");
    let thresholds: Vec<String> = a
        .model
        .tier_thresholds
        .iter()
        .zip(a.model.tier_open)
        .map(|(&t, open)| if open { percent(t) } else { "none".into() })
        .collect();
    for (label, value) in [
        ("Decision", a.decision.as_str().to_string()),
        (
            "Risk",
            format!(
                "{} ({} tier; medium, high and critical start at {})",
                percent(a.risk),
                a.tier,
                thresholds.join(", ")
            ),
        ),
        ("Author", fact("author")),
        ("AI involvement", {
            let tool = fact("ai_tool");
            if tool.is_empty() {
                fact("ai_involvement")
            } else {
                format!("{} ({tool})", fact("ai_involvement"))
            }
        }),
        ("Permission", fact("permission_level")),
        (
            "Review",
            format!(
                "{}, {} approving reviewer(s)",
                fact("review_status"),
                a.facts
                    .get("reviewer_count")
                    .and_then(|f| f.value.clone().or(f.scored_as.clone()))
                    .unwrap_or_default()
            ),
        ),
        (
            "Blast radius",
            format!(
                "{}: {} service(s), {} region(s), customer-facing {}",
                fact("service"),
                fact("services_affected"),
                fact("regions_affected"),
                fact("customer_facing")
            ),
        ),
        (
            "Size",
            format!(
                "{} change, {} lines in {} files",
                fact("change_type"),
                fact("lines_changed"),
                fact("files_changed")
            ),
        ),
    ] {
        md.push_str(&format!("| {label} | {} |\n", e(&value)));
    }
    md.push('\n');

    let violations = a.violations();
    md.push_str("#### Guardrails\n\n");
    if violations.is_empty() {
        md.push_str(&format!(
            "No guardrail is violated ({} checked).\n\n",
            a.policies.len()
        ));
    }
    for v in &violations {
        md.push_str(&format!(
            "- **{}** {}: {}\n",
            v.action.to_uppercase(),
            e(&v.id),
            e(&v.description)
        ));
        for b in &v.because {
            md.push_str(&format!("  - {}\n", e(b)));
        }
        if !v.certain {
            md.push_str("  - fires for the worst case of the unknown facts\n");
        }
    }
    if !violations.is_empty() {
        md.push('\n');
    }

    md.push_str("#### Why this risk\n\n");
    if a.reasons.is_empty() {
        md.push_str("No factor raises the risk much.\n");
    }
    for (k, r) in a.reasons.iter().enumerate() {
        md.push_str(&format!("{}. {}\n", k + 1, e(r)));
    }
    md.push('\n');

    if !a.unknown.is_empty() {
        md.push_str("#### Unknown facts\n\n");
        for u in &a.unknown {
            md.push_str(&format!(
                "- **{}** is unknown: scored as the worst case, **{}**. To give it: {}.\n",
                u.field,
                e(&u.scored_as),
                e(u.hint)
            ));
        }
        md.push('\n');
    }
    for w in &a.warnings {
        md.push_str(&format!("> {}\n\n", e(w)));
    }

    md.push_str("<details><summary>Facts and where they came from</summary>\n\n");
    md.push_str("| fact | value | source |\n|---|---|---|\n");
    for column in crate::load::CHANGE_COLUMNS {
        if let Some(f) = a.facts.get(column) {
            let value = fact_value(f);
            md.push_str(&format!(
                "| {column} | {} | {} |\n",
                e(&value),
                e(&f.source)
            ));
        }
    }
    md.push_str("\n</details>\n\n");

    if !a.files.is_empty() {
        const SHOWN: usize = 50;
        md.push_str(&format!(
            "<details><summary>Changed files ({})</summary>\n\n| file | +/- | type | service |\n|---|---|---|---|\n",
            a.files.len()
        ));
        for f in a.files.iter().take(SHOWN) {
            let lines = if f.binary {
                "binary".to_string()
            } else {
                format!("+{} -{}", f.added, f.deleted)
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                e(&f.path),
                e(&lines),
                e(f.change_type),
                e(f.service.as_deref().unwrap_or(""))
            ));
        }
        if a.files.len() > SHOWN {
            md.push_str(&format!(
                "\n{} more files not shown.\n",
                a.files.len() - SHOWN
            ));
        }
        md.push_str("\n</details>\n\n");
    }
    let history = if a.model.history_changes == 0 && a.model.history_incidents == 0 {
        "no history given (`--history`, `--incidents`): the author's and service's history features see none".to_string()
    } else if a.model.history_changes == 0 {
        format!(
            "{} incidents and no past changes (`--history`): the author's and service's change counts see none",
            a.model.history_incidents
        )
    } else {
        format!(
            "history of {} changes and {} incidents",
            a.model.history_changes, a.model.history_incidents
        )
    };
    md.push_str(&format!(
        "<sub>changerisk {}; model {} trained on {} changes ({} to {}); {history}.</sub>\n",
        env!("CARGO_PKG_VERSION"),
        e(&a.model.path),
        a.model.training_rows,
        e(&a.model.trained_from),
        e(&a.model.trained_to)
    ));
    md
}

/// The 128-bit FNV-1a hash: stable across runs, builds and machines (unlike std's
/// randomised hasher), which report fingerprints need.
fn fnv1a_128(bytes: impl IntoIterator<Item = u8>) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes.into_iter().fold(OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(PRIME)
    })
}

/// A finding's fingerprint: the hash of its parts, each ended by a NUL byte, as 32 hex
/// digits.
fn fingerprint(parts: &[&str]) -> String {
    let bytes = parts
        .iter()
        .flat_map(|p| p.bytes().chain(std::iter::once(0)));
    format!("{:032x}", fnv1a_128(bytes))
}

/// One finding, shared by the GitLab and SARIF reports.
struct Finding {
    check: String,
    /// 0 note/info .. 3 blocker.
    weight: u8,
    message: String,
}

fn findings(a: &Annotation) -> Vec<Finding> {
    let mut out: Vec<Finding> = a
        .violations()
        .into_iter()
        .map(|v| Finding {
            check: format!("changerisk/{}", v.id),
            weight: if v.action == "block" { 3 } else { 2 },
            message: format!("{}: {}", a.change_id, verdict_text(v)),
        })
        .collect();
    out.push(Finding {
        check: "changerisk/risk".into(),
        weight: match a.tier_index {
            0 => 0,
            1 => 1,
            _ => 2,
        },
        message: format!(
            "{}: risk {} ({} tier), decision {}. {}",
            headline(a),
            percent(a.risk),
            a.tier,
            a.decision.as_str(),
            reasons_sentence(a)
        ),
    });
    for u in &a.unknown {
        out.push(Finding {
            check: format!("changerisk/unknown/{}", u.field),
            weight: 1,
            message: format!(
                "{} is unknown, so the change was scored as the worst case ({}); {}.",
                u.field, u.scored_as, u.hint
            ),
        });
    }
    out
}

/// Renders the GitLab Code Quality report (a JSON array).
pub fn gitlab(a: &Annotation) -> String {
    let path = a.anchor_file().unwrap_or(".gitlab-ci.yml");
    let issues: Vec<Value> = findings(a)
        .into_iter()
        .map(|f| {
            let severity = match (f.weight, f.check.as_str()) {
                (2, "changerisk/risk") if a.tier_index == 3 => "critical",
                (3, _) => "blocker",
                (2, _) => "major",
                (1, _) => "minor",
                _ => "info",
            };
            json!({
                "type": "issue",
                "description": f.message,
                "check_name": f.check,
                "categories": ["Bug Risk"],
                "fingerprint": fingerprint(&[&f.check, &a.change_id, path]),
                "severity": severity,
                "location": {"path": path, "lines": {"begin": 1}},
            })
        })
        .collect();
    pretty(&Value::Array(issues))
}

/// Renders a SARIF 2.1.0 log: every guardrail as a rule, plus the risk and the
/// unknown facts, located at the first changed file.
pub fn sarif(a: &Annotation) -> String {
    let level = |weight: u8| match weight {
        3 => "error",
        2 => "warning",
        1 => "warning",
        _ => "note",
    };
    let mut rules: Vec<Value> = a
        .policies
        .iter()
        .map(|p| {
            json!({
                "id": format!("changerisk/{}", p.id),
                "name": p.id,
                "shortDescription": {"text": p.description},
                "defaultConfiguration": {"level": if p.action == "block" { "error" } else { "warning" }},
                "properties": {"action": p.action},
            })
        })
        .collect();
    rules.push(json!({
        "id": "changerisk/risk",
        "name": "risk",
        "shortDescription": {"text": "The probability that the change causes an incident, learned from past changes and incidents."},
        "defaultConfiguration": {"level": "note"},
    }));
    for u in &a.unknown {
        rules.push(json!({
            "id": format!("changerisk/unknown/{}", u.field),
            "name": format!("unknown-{}", u.field),
            "shortDescription": {"text": format!("{} is unknown; the change is scored as the worst case.", u.field)},
            "defaultConfiguration": {"level": "warning"},
        }));
    }
    let location = a.anchor_file();
    let results: Vec<Value> = findings(a)
        .into_iter()
        .map(|f| {
            let index = rules
                .iter()
                .position(|r| r["id"] == f.check.as_str())
                .unwrap_or(0);
            let mut result = json!({
                "ruleId": f.check,
                "ruleIndex": index,
                "level": level(f.weight),
                "message": {"text": f.message},
                "partialFingerprints": {
                    "changerisk/v1": fingerprint(&[&f.check, &a.change_id, location.unwrap_or("")]),
                },
            });
            if let Some(path) = location {
                result["locations"] = json!([{
                    "physicalLocation": {
                        "artifactLocation": {"uri": path_uri(path)},
                        "region": {"startLine": 1},
                    }
                }]);
            }
            result
        })
        .collect();
    pretty(&json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "changerisk",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
            "properties": {
                "change_id": a.change_id,
                "risk": a.risk,
                "tier": a.tier,
                "decision": a.decision.as_str(),
            },
        }],
    }))
}

/// What a path may keep in a relative URI reference: RFC 3986's unreserved characters
/// and `/`. Everything else (`#`, `%`, `?`, spaces, control characters, non-ASCII) is
/// percent-encoded, so a SARIF consumer resolves the file named, not a fragment of it.
const PATH_URI: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A repository path as a SARIF `artifactLocation.uri` (a relative URI reference).
fn path_uri(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_URI).to_string()
}

/// Renders the full result as JSON.
pub fn json(a: &Annotation) -> String {
    let mut value =
        serde_json::to_value(a).unwrap_or_else(|e| unreachable!("an annotation serialises: {e}"));
    value["changerisk_version"] = json!(env!("CARGO_PKG_VERSION"));
    pretty(&value)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| unreachable!("JSON values serialise: {e}"))
}

/// The text one format writes (for `github`, the annotations).
pub fn render(format: Format, a: &Annotation) -> String {
    match format {
        Format::Github => github(a).annotations,
        Format::Gitlab => gitlab(a),
        Format::Sarif => sarif(a),
        Format::Markdown => markdown(a),
        Format::Json => json(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sarif_uris_percent_encode_what_a_uri_would_read_otherwise() {
        assert_eq!(path_uri("src/a_b-c.~1.rs"), "src/a_b-c.~1.rs");
        assert_eq!(
            path_uri("my dir/100% ok#1.py"),
            "my%20dir/100%25%20ok%231.py"
        );
        assert_eq!(path_uri("evil\n?.py"), "evil%0A%3F.py");
        assert_eq!(path_uri("caf\u{e9}.md"), "caf%C3%A9.md");
    }

    #[test]
    fn workflow_command_escaping_follows_the_actions_toolkit() {
        assert_eq!(escape_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(escape_property("x: y, z%0A"), "x%3A y%2C z%250A");
        // An injected command stays on the line of the command that carries it.
        let line = format!("::notice::{}", escape_data("t\n::set-output name=x::1"));
        assert_eq!(line.lines().count(), 1);
    }

    #[test]
    fn markdown_escaping_leaves_no_markup() {
        let out =
            escape_markdown("<img src=x onerror=alert(1)> [a](http://e.test) **b**\n# h @ana");
        assert!(!out.contains('\n'));
        // Every punctuation character is escaped: a backslash before each.
        let chars: Vec<char> = out.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            if chars[k] == '\\' {
                assert!(chars[k + 1].is_ascii_punctuation(), "{out}");
                k += 2;
                continue;
            }
            assert!(!chars[k].is_ascii_punctuation() || chars[k] == '@', "{out}");
            k += 1;
        }
        assert!(out.contains("\\<img") && !out.contains("@ana"));
    }

    #[test]
    fn fingerprints_are_fnv1a_128() {
        // Test vectors of the FNV specification (draft-eastlake-fnv): the empty input
        // gives the offset basis; "a" gives d228cb69...
        assert_eq!(
            format!("{:032x}", fnv1a_128(*b"")),
            "6c62272e07bb014262b821756295c58d"
        );
        assert_eq!(
            format!("{:032x}", fnv1a_128(*b"a")),
            "d228cb696f1a8caf78912b704e4a8964"
        );
        assert_ne!(fingerprint(&["a", "b"]), fingerprint(&["ab"]));
    }
}
