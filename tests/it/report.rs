//! `changerisk report`: the page built from the shipped data opens in headless
//! Chromium with every chart and without a console error or anything to fetch, reads on
//! a desktop and a phone-sized window, and escapes every string taken from the data.

use std::path::{Path, PathBuf};
use std::process::Command;

use changerisk::report::html::CHART_IDS;

use crate::util::{generate, read_records, repo_root, run, shipped_model, tempdir};

/// Chromium, which scripts/test.sh installs.
fn chromium() -> PathBuf {
    crate::util::required_program(
        "CHANGERISK_CHROMIUM",
        "installs Debian's chromium and sets it",
    )
}

/// What headless Chromium printed for one run.
struct Browser {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on `page` with `args` (a fresh profile, no background
/// networking, console messages logged to stderr).
fn browse(page: &Path, profile: &Path, args: &[String]) -> Browser {
    let url = format!("file://{}", page.display());
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(&url)
        .output()
        .expect("chromium starts");
    let browser = Browser {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "chromium failed ({:?}); stderr:\n{}",
        output.status,
        browser.stderr
    );
    browser
}

/// Lines where the page logged to the console or the browser refused something (a
/// Content-Security-Policy violation, which any fetch would be).
fn console_problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains("CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Refused to")
                || l.contains("Content Security Policy")
                || l.contains("net::ERR_")
        })
        .collect()
}

/// Width and height from a PNG's IHDR chunk; panics unless `bytes` is a PNG.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 24, "a PNG is longer than its header");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    (be(16), be(20))
}

/// Takes a screenshot at `width` x `height`, checks it, and copies it to
/// `CHANGERISK_REPORT_SCREENSHOTS` (a directory) when set, for a person to look at.
fn screenshot(page: &Path, dir: &Path, name: &str, width: u32, height: u32) {
    let png = dir.join(format!("{name}.png"));
    let profile = dir.join(format!("profile-{name}"));
    let browser = browse(
        page,
        &profile,
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
    let problems = console_problems(&browser.stderr);
    assert!(problems.is_empty(), "console errors: {problems:#?}");
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(png_size(&bytes), (width, height), "{name} screenshot size");
    // A blank page compresses to a few kilobytes; charts and text do not.
    assert!(
        bytes.len() > 40_000,
        "{name} screenshot is only {} bytes: is the page blank?",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("CHANGERISK_REPORT_SCREENSHOTS") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).expect("the screenshot directory");
        std::fs::copy(&png, keep.join(format!("{name}.png"))).expect("copied");
    }
}

/// The values of every `attr="..."` in `html`.
fn attribute_values<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// Nothing in the page can make a request: no script, stylesheet link, frame or object,
/// no remote URL, and a Content-Security-Policy that forbids fetching anyway.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for tag in [
        "<script", "<link", "<iframe", "<object", "<embed", "<img", "<base", "@import", "url(",
    ] {
        assert!(!lower.contains(tag), "the page contains {tag:?}");
    }
    for attr in ["src", "href", "xlink:href", "srcset", "action", "data"] {
        for value in attribute_values(&lower, attr) {
            assert!(
                !value.contains("//") && !value.starts_with("http"),
                "{attr}={value:?} points at the network"
            );
        }
    }
    assert!(!lower.contains("http://") && !lower.contains("https://"));
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
    assert!(html.contains("@media print"));
    assert!(html.contains("@media (max-width: 640px)"));
}

#[test]
fn report_on_shipped_data_opens_in_headless_chromium_with_every_chart() {
    let dir = tempdir();
    let page = dir.path().join("report.html");
    let done = run(
        &repo_root(),
        ["report", "--output", &page.display().to_string()],
    )
    .success();
    assert!(
        done.stderr.contains("report of 15000 changes"),
        "{}",
        done.stderr
    );
    let html = std::fs::read_to_string(&page).expect("the report was written");
    assert_self_contained(&html);
    // No generation time or thread-dependent order: the same inputs give the same page.
    let again = dir.path().join("again.html");
    run(
        &repo_root(),
        ["report", "-q", "--output", &again.display().to_string()],
    )
    .success();
    assert!(
        std::fs::read(&again).expect("written") == html.as_bytes(),
        "the page differs between runs"
    );

    // Every chart is an accessible image: role, title and description it is labelled by.
    for id in CHART_IDS {
        let open =
            format!("<svg id=\"{id}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\"");
        assert!(html.contains(&open), "no accessible svg #{id}");
        assert!(html.contains(&format!("<title id=\"{id}-title\">")));
        assert!(html.contains(&format!("<desc id=\"{id}-desc\">")));
    }
    // The headline is the time-ordered evaluation, model beside rule baseline.
    assert!(html.contains("Measured time-ordered"));
    assert!(html.contains("rule baseline"));
    // ... and its numbers are `evaluate`'s on the same inputs: the shipped model's tree
    // settings, sized to its 15,000 training changes, are sized afresh to the
    // evaluation's 12,000, as `evaluate` sizes its own.
    let evaluated: serde_json::Value = serde_json::from_str(
        &run(&repo_root(), ["evaluate", "-q", "--json"])
            .success()
            .stdout,
    )
    .expect("evaluate --json prints JSON");
    for (row, key) in [
        ("log loss", "log_loss"),
        ("expected calibration error", "ece"),
    ] {
        let value = evaluated["model"][key].as_f64().expect("a number");
        let cell = format!("{row}</th><td class=\"num\">{value:.4}</td>");
        assert!(
            html.contains(&cell),
            "the report's {row} is not evaluate's {value:.4}"
        );
    }
    // The riskiest recent changes carry their reasons.
    let rows = html
        .matches("<td data-label=\"reasons\" class=\"reasons\">")
        .count();
    assert_eq!(rows, 15, "the default lists 15 riskiest recent changes");

    // The DOM Chromium builds holds every chart, and nothing went to the console.
    let browser = browse(
        &page,
        &dir.path().join("profile-dom"),
        &["--dump-dom".into()],
    );
    let problems = console_problems(&browser.stderr);
    assert!(problems.is_empty(), "console errors: {problems:#?}");
    assert!(browser.stdout.contains("<h1>Change risk report</h1>"));
    for id in CHART_IDS {
        assert!(
            browser.stdout.contains(&format!("<svg id=\"{id}\"")),
            "the rendered DOM has no #{id}"
        );
    }
    screenshot(&page, dir.path(), "desktop", 1280, 2400);
    screenshot(&page, dir.path(), "phone", 390, 2400);
}

#[test]
fn report_escapes_every_string_from_the_data() {
    let dir = tempdir();
    let history = generate(dir.path(), 11);
    let hostile = "<script>alert('x')</script>&\"";
    // Every change id, service and AI tool carries markup; incidents name the new ids.
    let mut changes = read_records(&history.changes);
    let (id, service, tool) = (
        changes.col("change_id"),
        changes.col("service"),
        changes.col("ai_tool"),
    );
    for row in &mut changes.rows {
        row[id] = format!("<b>{}", row[id]);
        row[service] = format!("{hostile}{}", row[service]);
        if !row[tool].is_empty() {
            row[tool] = hostile.to_string();
        }
    }
    changes.write(&history.changes);
    let mut incidents = read_records(&history.incidents);
    let (cause, place) = (incidents.col("caused_by_change"), incidents.col("service"));
    for row in &mut incidents.rows {
        if !row[cause].is_empty() {
            row[cause] = row[cause]
                .split(';')
                .map(|c| format!("<b>{c}"))
                .collect::<Vec<_>>()
                .join(";");
        }
        row[place] = format!("{hostile}{}", row[place]);
    }
    incidents.write(&history.incidents);

    let page = dir.path().join("out").join("hostile.html");
    run(
        dir.path(),
        [
            "report",
            "--model",
            &shipped_model().display().to_string(),
            "--changes",
            &history.changes.display().to_string(),
            "--incidents",
            &history.incidents.display().to_string(),
            "--output",
            &page.display().to_string(),
        ],
    )
    .success();
    let html = std::fs::read_to_string(&page).expect("the report was written");
    assert_self_contained(&html);
    assert!(!html.contains("<b>"), "an unescaped change id");
    assert!(
        html.contains("<code>&lt;b&gt;"),
        "the escaped change ids are listed"
    );
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
}

#[test]
fn report_rejects_a_bad_test_fraction() {
    let dir = tempdir();
    run(dir.path(), ["report", "--test-fraction", "1.5"])
        .bad_input(&["--test-fraction must be between 0 and 1"]);
    // The page is HTML, whatever the name says: a .pdf is refused before any work.
    run(dir.path(), ["report", "--output", "r.pdf"]).bad_input(&[
        "--output r.pdf",
        "not .pdf",
        "name it .html",
    ]);
    assert!(!dir.path().join("r.pdf").exists());
    // Held out so far that 7 changes are left to train on: the selection's advice names
    // `train`'s flags, and the report says they are the model's.
    let data = repo_root().join("data");
    run(
        dir.path(),
        [
            "report".into(),
            "--model".into(),
            shipped_model().display().to_string(),
            "--changes".into(),
            data.join("changes.csv").display().to_string(),
            "--incidents".into(),
            data.join("incidents.csv").display().to_string(),
            "--test-fraction".into(),
            "0.9995".to_string(),
        ],
    )
    .bad_input(&[
        "the report's evaluation trains a model with the model's settings (`train`'s flags: retrain to change them) on the changes before the held-out --test-fraction 0.9995: 7 training changes are too few",
        "or fewer --folds",
    ]);
    assert!(!dir.path().join("report.html").exists());
}

/// The console check is not vacuous: on a page that tries a fetch and a script, both
/// blocked by the report's Content-Security-Policy, Chromium's stderr shows it.
#[test]
fn console_check_catches_a_blocked_fetch_and_script() {
    let dir = tempdir();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"></head>\
         <body><img src=\"https://example.invalid/pixel.png\"><script>console.error('boom')</script></body></html>",
    )
    .expect("written");
    let browser = browse(&page, &dir.path().join("profile"), &["--dump-dom".into()]);
    let problems = console_problems(&browser.stderr);
    assert!(
        problems.iter().any(|l| l.contains("example.invalid")),
        "the blocked image is not reported: {problems:#?}"
    );
    assert!(
        problems.iter().any(|l| l.contains("inline script")),
        "the blocked script is not reported: {problems:#?}"
    );
}

/// A history described by a feature config with a label column (the Columba
/// just-in-time defect dataset): no incidents file, no rule baseline and no segments, yet
/// every other chart is drawn and the riskiest changes list only the columns it has.
#[test]
fn report_on_a_config_with_a_label_column_draws_what_applies() {
    let dir = tempdir();
    let changes = repo_root().join("../shared/datasets/jit/columba.csv");
    let config = repo_root().join("data/examples/columba.toml");
    let model = dir.path().join("model.json");
    let page = dir.path().join("columba.html");
    let path = |p: &Path| p.display().to_string();
    run(
        dir.path(),
        [
            "train",
            "-q",
            "--config",
            &path(&config),
            "--changes",
            &path(&changes),
            "--model",
            &path(&model),
        ],
    )
    .success();
    run(
        dir.path(),
        [
            "report",
            "-q",
            "--config",
            &path(&config),
            "--changes",
            &path(&changes),
            "--model",
            &path(&model),
            "--output",
            &path(&page),
        ],
    )
    .success();
    let html = std::fs::read_to_string(&page).expect("the report was written");
    assert_self_contained(&html);
    for id in [
        "roc-chart",
        "calibration-chart",
        "gating-chart",
        "factor-chart",
    ] {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "no #{id}");
    }
    assert!(!html.contains("<svg id=\"segment-chart\""));
    assert!(html.contains("Not available: the history does not have the ai_involvement"));
    assert!(html.contains("No rule-only baseline"));
    assert!(!html.contains("rule baseline"));
    assert!(!html.contains("<th scope=\"col\">service</th>"));
    assert!(!html.contains("Incidents: <code>"));
    let browser = browse(&page, &dir.path().join("profile"), &["--dump-dom".into()]);
    let problems = console_problems(&browser.stderr);
    assert!(problems.is_empty(), "console errors: {problems:#?}");
}
