//! Bring your own data: the shipped configs on the public just-in-time defect datasets,
//! checked against an independent implementation (scikit-learn) and for malformed configs.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use crate::util::{python, repo_root, run, tempdir, train_config};

fn dataset(name: &str) -> PathBuf {
    repo_root()
        .join("../shared/datasets/jit")
        .join(format!("{name}.csv"))
}

fn config(name: &str) -> PathBuf {
    repo_root()
        .join("data/examples")
        .join(format!("{name}.toml"))
}

/// Writes the first 80% (by `time_column`, stable) and the rest of `source` as two CSVs,
/// the split `evaluate` makes.
fn chronological_split(
    source: &Path,
    (time_column, id_column): (&str, &str),
    parse: impl Fn(&str) -> i64,
    dir: &Path,
) -> (PathBuf, PathBuf) {
    let mut reader = csv::Reader::from_path(source).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (t, id) = (column(time_column), column(id_column));
    let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    // Changes in the same second go by id, as changerisk orders them.
    rows.sort_by(|a, b| {
        parse(&a[t])
            .cmp(&parse(&b[t]))
            .then_with(|| a[id].cmp(&b[id]))
    });
    // The last ceil(20%) for testing, as `evaluate` (and scikit-learn) split.
    let cut = rows.len() - (rows.len() as f64 * 0.2).ceil() as usize;
    let write = |name: &str, part: &[csv::StringRecord]| {
        let path = dir.join(name);
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.write_record(&headers).unwrap();
        for r in part {
            w.write_record(r).unwrap();
        }
        w.flush().unwrap();
        path
    };
    (
        write("past.csv", &rows[..cut]),
        write("future.csv", &rows[cut..]),
    )
}

fn evaluate_auc(name: &str, learner: &str) -> f64 {
    let out = run(
        &repo_root(),
        [
            "evaluate",
            "--json",
            "--learner",
            learner,
            "--config",
            config(name).to_str().unwrap(),
            "--changes",
            dataset(name).to_str().unwrap(),
        ],
    )
    .success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    json["model"]["roc_auc"].as_f64().unwrap()
}

/// `train` on the past 80%, `score` the rest, and let scikit-learn compute the AUC of
/// the scored file against the label column it passes through.
fn sklearn_auc_of_train_and_score(
    name: &str,
    learner: &str,
    time_column: &str,
    parse: impl Fn(&str) -> i64,
) -> f64 {
    let id = if name == "openstack" {
        "_id"
    } else {
        "transactionid"
    };
    let dir = tempdir();
    let (past, future) = chronological_split(&dataset(name), (time_column, id), parse, dir.path());
    let model = dir.path().join("model.json");
    let scored = dir.path().join("scored.csv");
    run(
        dir.path(),
        [
            "train",
            "--learner",
            learner,
            "--config",
            config(name).to_str().unwrap(),
            "--changes",
            past.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
        ],
    )
    .success();
    run(
        dir.path(),
        [
            "score",
            "--model",
            model.to_str().unwrap(),
            "--changes",
            future.to_str().unwrap(),
            "--output",
            scored.to_str().unwrap(),
        ],
    )
    .success();
    // The scored rows come back in input order, one per input row.
    let script = "import sys, pandas as pd\nfrom sklearn.metrics import roc_auc_score\n\
                  s = pd.read_csv(sys.argv[1]); f = pd.read_csv(sys.argv[2])\n\
                  assert len(s) == len(f), (len(s), len(f))\n\
                  assert [str(x) for x in s['change_id']] == [str(x) for x in f[sys.argv[3]]]\n\
                  print(repr(float(roc_auc_score(s['bug'], s['risk']))))";
    let out = Process::new(python())
        .args([
            "-c",
            script,
            scored.to_str().unwrap(),
            future.to_str().unwrap(),
            id,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn openstack_meets_the_published_baselines_and_sklearn_agrees() {
    // The logistic learner: scikit-learn logistic regression on log1p of all features
    // gets 0.774 (datasets README). (`auto` picks a blend with trees here, which
    // validates better on every fold before the split but scores 0.762 after it: the
    // trees' edge fades in OpenStack's last year. README, "Model quality".)
    let ours = evaluate_auc("openstack", "logistic");
    assert!(ours >= 0.77, "OpenStack ROC-AUC {ours}");
    let independent =
        sklearn_auc_of_train_and_score("openstack", "logistic", "date", |s| s.parse().unwrap());
    assert!(
        (ours - independent).abs() < 1e-6,
        "evaluate {ours} vs scikit-learn {independent}"
    );
}

#[test]
fn columba_meets_the_published_baselines_and_sklearn_agrees() {
    // logistic regression 0.758, LightGBM 0.764 (datasets README); the default learner
    // must beat both.
    let ours = evaluate_auc("columba", "auto");
    assert!(ours >= 0.77, "Columba ROC-AUC {ours}");
    let parse = |s: &str| {
        chrono::NaiveDateTime::parse_from_str(s, "%Y/%m/%d %H:%M")
            .unwrap()
            .and_utc()
            .timestamp()
    };
    let independent = sklearn_auc_of_train_and_score("columba", "auto", "commitdate", parse);
    assert!(
        (ours - independent).abs() < 1e-6,
        "evaluate {ours} vs scikit-learn {independent}"
    );
}

/// A small labelled export with odd column names, a categorical column and gaps.
fn odd_export(dir: &Path) -> PathBuf {
    let mut text = String::from("row id,when,défaut,size ,team,hotfix,\n");
    for i in 0..400 {
        let team = ["core", "web", "data"][i % 3];
        let size = if i % 17 == 0 {
            String::new()
        } else {
            ((i * 37) % 500).to_string()
        };
        let bad = u8::from((i * 37) % 500 > 300 || i % 7 == 0);
        // A 0/1 column with gaps, as pandas writes it: 1.0, 0.0 and empty.
        let hotfix = ["1.0", "0.0", "0.0", ""][i % 4];
        text.push_str(&format!(
            "c{i},{},{bad},{size},{team},{hotfix},x\n",
            1_600_000_000 + i * 3600
        ));
    }
    let path = dir.join("export.csv");
    std::fs::write(&path, text).unwrap();
    path
}

const ODD_CONFIG: &str = "[columns]\nid = \"row id\"\ntimestamp = \"when\"\ntimestamp_format = \"unix\"\nlabel = \"défaut\"\n\n[features]\nnumeric = [\"size \"]\nboolean = [\"hotfix\"]\ncategorical = [\"team\"]\n";

#[test]
fn odd_column_names_missing_values_and_unseen_levels_work() {
    let dir = tempdir();
    let export = odd_export(dir.path());
    std::fs::write(dir.path().join("odd.toml"), ODD_CONFIG).unwrap();
    train_config(dir.path(), "odd.toml", "export.csv", &[]).success();
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let names: Vec<&str> = model["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // The gaps in "size " and "hotfix" add missing indicators; the label and the unnamed
    // column never enter.
    for name in ["size _missing", "hotfix", "hotfix_missing"] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    assert!(
        !names.iter().any(|n| n.contains("défaut") || n.is_empty()),
        "{names:?}"
    );
    // A level never seen in training scores as `other`, with a warning that counts and
    // names it.
    let text = std::fs::read_to_string(&export)
        .unwrap()
        .replace(",data,", ",mobile,");
    std::fs::write(dir.path().join("new.csv"), text).unwrap();
    let score = |changes: &str, output: &str| {
        let args = ["score", "--model", "m.json", "--changes", changes];
        run(dir.path(), args.iter().chain(&["--output", output]))
    };
    let out = score("new.csv", "s.csv").success();
    assert!(
        out.stderr
            .contains("133 change(s) have a 'team' level not seen in training ('mobile')"),
        "{}",
        out.stderr
    );
    // `report` reads the files with the model's config, as `score` does: no --config.
    run(
        dir.path(),
        [
            "report",
            "--model",
            "m.json",
            "--changes",
            "export.csv",
            "--output",
            "r.html",
        ],
    )
    .success();
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    assert!(page.contains("ROC-AUC"));
    // A value spelled like the level of an empty cell would merge with the gaps.
    let text = std::fs::read_to_string(&export)
        .unwrap()
        .replacen(",web,", ",(missing),", 1);
    std::fs::write(dir.path().join("spelled.csv"), text).unwrap();
    score("spelled.csv", "s2.csv").bad_input(&[
        "spelled.csv",
        "row 2",
        "team",
        "\"(missing)\"",
        "the level an empty cell takes",
    ]);
}

#[test]
fn malformed_configs_exit_2_naming_the_problem() {
    let dir = tempdir();
    odd_export(dir.path());
    std::fs::write(
        dir.path().join("incidents.csv"),
        "incident_id,start_time,service,severity\n",
    )
    .unwrap();
    let cases: [(&str, &str, &[&str]); 10] = [
        (
            "missing.toml",
            &ODD_CONFIG.replace("\"team\"", "\"squad\""),
            &["squad", "export.csv"],
        ),
        (
            "unknown.toml",
            &format!("{ODD_CONFIG}monotone = true\n"),
            &["monotone"],
        ),
        (
            "label.toml",
            &ODD_CONFIG
                .replace("label = \"défaut\"", "label = \"size \"")
                .replace("numeric = [\"size \"]", "numeric = []"),
            &["size ", "true, false, 1, 0, 1.0, 0.0, yes or no"],
        ),
        (
            "flag.toml",
            &ODD_CONFIG
                .replace("numeric = [\"size \"]", "numeric = []")
                .replace(
                    "boolean = [\"hotfix\"]",
                    "boolean = [\"hotfix\", \"size \"]",
                ),
            &["size ", "true, false, 1, 0, 1.0, 0.0, yes or no"],
        ),
        ("both.toml", ODD_CONFIG, &["incidents", "label"]),
        (
            "no_date.toml",
            &ODD_CONFIG.replace("\"unix\"", "\"%H:%M\""),
            &[
                "no_date.toml",
                "\"%H:%M\" does not read back the time it writes",
            ],
        ),
        (
            "twelve_hours.toml",
            &ODD_CONFIG.replace("\"unix\"", "\"%Y-%m-%d %I:%M\""),
            &["twelve_hours.toml", "without AM/PM (%p)"],
        ),
        (
            "minutes_alone.toml",
            &ODD_CONFIG.replace("\"unix\"", "\"%Y-%m-%d %M\""),
            &[
                "minutes_alone.toml",
                "does not read back the time it writes",
                "reads as nothing",
            ],
        ),
        (
            "zone_name.toml",
            &ODD_CONFIG.replace("\"unix\"", "\"%Y-%m-%d %H:%M %Z\""),
            &["zone_name.toml", "a time zone name (%Z)"],
        ),
        (
            "empty_name.toml",
            &ODD_CONFIG.replace("numeric = [\"size \"]", "numeric = [\"size \", \"\"]"),
            &[
                "empty_name.toml",
                "[features] numeric names the column \"\"",
            ],
        ),
    ];
    for (file, text, needles) in cases {
        std::fs::write(dir.path().join(file), text).unwrap();
        let incidents: &[&str] = if file == "both.toml" {
            &["--incidents", "incidents.csv"]
        } else {
            &[]
        };
        train_config(dir.path(), file, "export.csv", incidents).bad_input(needles);
    }
}

#[test]
fn a_value_missing_only_at_scoring_time_is_imputed() {
    let dir = tempdir();
    let export = odd_export(dir.path());
    // Training data without gaps in "size ".
    let full = std::fs::read_to_string(&export).unwrap();
    // A row with its gap in "size " (before the team) filled with 7.
    let fill = |l: &str| {
        ["core", "web", "data"]
            .iter()
            .fold(l.to_string(), |l, team| {
                l.replace(&format!(",,{team},"), &format!(",7,{team},"))
            })
    };
    let filled: String = full.lines().map(fill).collect::<Vec<_>>().join("\n");
    std::fs::write(dir.path().join("full.csv"), filled + "\n").unwrap();
    std::fs::write(dir.path().join("odd.toml"), ODD_CONFIG).unwrap();
    train_config(dir.path(), "odd.toml", "full.csv", &[]).success();
    // Scoring the original file, whose "size " has gaps: every risk is a number.
    let out = run(
        dir.path(),
        [
            "score",
            "--model",
            "m.json",
            "--changes",
            "export.csv",
            "--output",
            "s.csv",
        ],
    )
    .success();
    let scored = std::fs::read_to_string(dir.path().join("s.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(scored.as_bytes());
    let risks: Vec<f64> = reader
        .records()
        .map(|r| r.unwrap()[1].parse().unwrap())
        .collect();
    assert_eq!(risks.len(), 400);
    assert!(
        risks
            .iter()
            .all(|r| r.is_finite() && (0.0..=1.0).contains(r)),
        "{risks:?}"
    );
    // Gaps the model never saw are counted in a warning ("hotfix" had gaps in training
    // too, and its indicator models them: no warning for it).
    let median = "scored with its training median";
    assert!(
        out.stderr.contains(&format!(
            "warning: 24 of 400 change(s) have no 'size ', which every training change had; {median}"
        )) && !out.stderr.contains("'hotfix', which"),
        "{}",
        out.stderr
    );
    // `evaluate` says the same of its test period: here gaps only in the last 80 rows.
    let late: String = full
        .lines()
        .enumerate()
        .map(|(k, l)| if k > 320 { l.to_string() } else { fill(l) })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("late.csv"), late + "\n").unwrap();
    let out = run(
        dir.path(),
        ["evaluate", "--config", "odd.toml", "--changes", "late.csv"],
    )
    .success();
    assert!(
        out.stderr.contains(&format!(
            "warning: in the test period, 5 of 80 change(s) have no 'size ', which every training change had; {median}"
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_feature_that_alone_separates_the_labels_is_warned_about() {
    let tmp = tempdir();
    let dir = tmp.path();
    let export = std::fs::read_to_string(odd_export(dir)).unwrap();
    // A count of the bugs a change was found to have: not zero exactly where `défaut` is 1.
    let mut lines = export.lines();
    let mut text = format!("{},bugs\n", lines.next().unwrap());
    for (i, line) in lines.enumerate() {
        let bad = line.split(',').nth(2).unwrap() == "1";
        text.push_str(&format!("{line},{}\n", if bad { 1 + i % 3 } else { 0 }));
    }
    std::fs::write(dir.join("leak.csv"), text).unwrap();
    let leaky = ODD_CONFIG.replace("numeric = [\"size \"]", "numeric = [\"size \", \"bugs\"]");
    std::fs::write(dir.join("leak.toml"), leaky).unwrap();
    let warning = "alone separates the training labels";
    let out = train_config(dir, "leak.toml", "leak.csv", &[]).success();
    assert!(
        out.stderr.contains(warning) && out.stderr.contains("feature 'bugs"),
        "{}",
        out.stderr
    );
    let out = run(
        dir,
        ["evaluate", "--config", "leak.toml", "--changes", "leak.csv"],
    )
    .success();
    assert!(out.stderr.contains(warning), "{}", out.stderr);
    // Without the count, no feature separates them: no warning.
    std::fs::write(dir.join("odd.toml"), ODD_CONFIG).unwrap();
    let out = train_config(dir, "odd.toml", "leak.csv", &[]).success();
    assert!(!out.stderr.contains("alone separates"), "{}", out.stderr);
}

#[test]
fn a_yes_no_label_and_na_in_a_boolean_column_read_as_booleans() {
    let tmp = tempdir();
    let dir = tmp.path();
    let export = std::fs::read_to_string(odd_export(dir)).unwrap();
    // The label as yes/no, and the boolean's gaps as R writes them.
    let mut lines = export.lines();
    let mut text = format!("{}\n", lines.next().unwrap());
    for line in lines {
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        cells[2] = if cells[2] == "1" { "Yes" } else { "no" }.into();
        if cells[5].is_empty() {
            cells[5] = "NA".into();
        }
        text.push_str(&(cells.join(",") + "\n"));
    }
    std::fs::write(dir.join("yes.csv"), text).unwrap();
    std::fs::write(dir.join("odd.toml"), ODD_CONFIG).unwrap();
    train_config(dir, "odd.toml", "yes.csv", &[]).success();
    let yes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    // The same model as from the 0/1 label with empty cells, but for where the file
    // came from.
    train_config(dir, "odd.toml", "export.csv", &[]).success();
    let plain: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("m.json")).unwrap()).unwrap();
    assert_eq!(yes["features"], plain["features"]);
    assert_eq!(yes["training"]["positives"], plain["training"]["positives"]);
    assert_eq!(yes["intercept"], plain["intercept"]);
}

#[test]
fn a_model_with_history_features_scored_without_a_history_says_so() {
    let tmp = tempdir();
    let dir = tmp.path();
    odd_export(dir);
    let config = ODD_CONFIG.replace("label = ", "service = \"team\"\nlabel = ");
    std::fs::write(dir.join("svc.toml"), config).unwrap();
    train_config(dir, "svc.toml", "export.csv", &[]).success();
    let score = |extra: &[&str]| {
        let args = ["score", "--model", "m.json", "--changes", "export.csv"];
        let out = ["--output", "s.csv"];
        run(dir, args.iter().chain(extra).chain(&out)).success()
    };
    let warning = "no --history was given: each change's history is counted from --changes alone";
    assert!(score(&[]).stderr.contains(warning));
    assert!(!score(&["--no-history"]).stderr.contains(warning));
    assert!(!score(&["--history", "export.csv"]).stderr.contains(warning));
}

#[test]
fn a_small_history_says_the_model_choice_is_uncertain() {
    let tmp = tempdir();
    let text = std::fs::read_to_string(dataset("columba")).unwrap();
    let small: Vec<&str> = text.lines().take(251).collect();
    let path = tmp.path().join("small.csv");
    std::fs::write(&path, small.join("\n") + "\n").unwrap();
    let train = |changes: &Path| {
        run(
            tmp.path(),
            [
                "train".as_ref(),
                "--config".as_ref(),
                config("columba").as_os_str(),
                "--changes".as_ref(),
                changes.as_os_str(),
                "--model".as_ref(),
                tmp.path().join("model.json").as_os_str(),
            ],
        )
        .success()
    };
    let note = "note: the latest validation fold has";
    let out = train(&path);
    assert!(out.stderr.contains(note), "{}", out.stderr);
    assert!(out.stderr.contains("positive ("), "{}", out.stderr);
    assert!(!train(&dataset("columba")).stderr.contains(note));
}

#[test]
fn config_infer_proposes_the_shipped_configs() {
    let tmp = tempdir();
    for name in ["openstack", "columba"] {
        let out = run(
            tmp.path(),
            [
                "config".as_ref(),
                "--infer".as_ref(),
                dataset(name).as_os_str(),
            ],
        )
        .success();
        let inferred = changerisk::config::Config::parse(&out.stdout, "inferred").unwrap();
        let shipped = changerisk::config::Config::load(&config(name)).unwrap();
        assert_eq!(inferred, shipped, "{}", out.stdout);
    }
    // OpenStack's unnamed row number and its copy of the label are left out, saying why.
    let out = run(
        tmp.path(),
        [
            "config".as_ref(),
            "--infer".as_ref(),
            dataset("openstack").as_os_str(),
        ],
    );
    assert!(out.stdout.contains("'': the row number: not learned"));
    assert!(out.stdout.contains("'__': the label again"));
}

/// `config --infer FILE` in `dir`: the proposed config, parsed (so it is one `--config`
/// reads), and the text printed.
fn infer_config(dir: &Path, file: &str) -> (changerisk::config::Config, String) {
    let out = run(dir, ["config", "--infer", file]).success();
    let config = changerisk::config::Config::parse(&out.stdout, "inferred").unwrap();
    (config, out.stdout)
}

#[test]
fn config_infer_reads_other_shapes_and_says_what_it_cannot_find() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut text = String::from("sha,committed,churn,reviewed,team,msg,gate,defective\n");
    let start = chrono::DateTime::parse_from_rfc3339("2026-03-01T10:00:00+01:00").unwrap();
    for i in 0..60 {
        // git's default date format.
        let when = start + chrono::Duration::hours(7 * i as i64);
        text.push_str(&format!(
            "h{i},{},{},{},{},\"note {i}, x\",{},{}\n",
            when.format("%a %b %e %H:%M:%S %Y %z"),
            i * 3,
            if i % 3 == 0 { "yes" } else { "no" },
            ["a", "b", "c"][i % 3],
            // Mostly a word the number reader takes for "missing": still text.
            if i % 20 == 0 { "bypassed" } else { "none" },
            i % 2
        ));
    }
    std::fs::write(dir.join("x.csv"), &text).unwrap();
    let (c, stdout) = infer_config(dir, "x.csv");
    assert_eq!(c.columns.id, "sha");
    assert_eq!(c.columns.timestamp, "committed");
    assert_eq!(c.columns.timestamp_format, "%a %b %e %H:%M:%S %Y %z");
    assert_eq!(c.columns.label.as_deref(), Some("defective"));
    assert_eq!(c.features.numeric, ["churn"]);
    assert_eq!(c.features.boolean, ["reviewed"]);
    assert_eq!(c.features.categorical, ["team", "gate"]);
    assert!(stdout.contains("'msg': text with many distinct values"));
    // The proposal trains as it stands.
    std::fs::write(dir.join("x.toml"), &stdout).unwrap();
    train_config(dir, "x.toml", "x.csv", &[]).success();
    // Every column of the contract, with times in Unix seconds: the contract names the
    // column, the values tell the format.
    let shipped = std::fs::read_to_string(repo_root().join("data/changes.csv")).unwrap();
    let mut lines = shipped.lines();
    let header = lines.next().unwrap();
    let at = header.split(',').position(|c| c == "timestamp").unwrap();
    let mut unix = format!("{header}\n");
    for line in lines.take(300) {
        let mut cells: Vec<String> = line.split(',').map(str::to_string).collect();
        let t = chrono::DateTime::parse_from_rfc3339(&cells[at]).unwrap();
        cells[at] = t.timestamp().to_string();
        unix.push_str(&(cells.join(",") + "\n"));
    }
    std::fs::write(dir.join("contract_unix.csv"), unix).unwrap();
    let (c, stdout) = infer_config(dir, "contract_unix.csv");
    assert!(c.features.builtin);
    assert_eq!(c.columns.timestamp_format, "unix", "{}", stdout);
    // No time: exit 2, naming what was tried.
    std::fs::write(dir.join("no_time.csv"), "id,n\na,1\nb,2\n").unwrap();
    run(dir, ["config", "--infer", "no_time.csv"])
        .bad_input(&["no_time.csv", "no column reads as a time"]);
}

#[test]
fn config_infer_takes_no_single_valued_column_for_the_service_or_author() {
    let tmp = tempdir();
    let dir = tmp.path();
    // One project per file (as ApacheJIT ships them): 'project' holds one value.
    let mut one = String::from("commit,when,project,module,owner,la,buggy\n");
    let mut both = one.clone();
    for i in 0..60 {
        let row = |module: &str| {
            format!(
                "c{i},{},apache/x,{module},dev,{},{}\n",
                1_500_000_000 + 3600 * i,
                i % 7,
                i % 2
            )
        };
        one.push_str(&row("core"));
        both.push_str(&row(["core", "api", "cli"][i % 3]));
    }
    std::fs::write(dir.join("one.csv"), &one).unwrap();
    std::fs::write(dir.join("both.csv"), &both).unwrap();
    let (c, stdout) = infer_config(dir, "one.csv");
    assert_eq!(c.columns.service, None, "{}", stdout);
    assert_eq!(c.columns.author, None, "{}", stdout);
    assert!(stdout.contains("'project': the same value in every row: not learned"));
    // A varying column named like a service is still taken.
    let (c, stdout) = infer_config(dir, "both.csv");
    assert_eq!(c.columns.service.as_deref(), Some("module"), "{}", stdout);
}

/// A written-out row index (pandas' `Unnamed: 0`) saved after the rows were reversed is
/// still the row number: it stands in for time, so it is not learned.
#[test]
fn config_infer_leaves_out_a_row_index_in_any_order() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut text = String::from("Unnamed: 0,commit,when,la,buggy\n");
    for i in 0..60u64 {
        text.push_str(&format!(
            "{},c{i},{},{},{}\n",
            59 - i,
            1_500_000_000 + 3600 * i,
            (i * 7) % 11,
            i % 2
        ));
    }
    std::fs::write(dir.join("rev.csv"), &text).unwrap();
    let (c, stdout) = infer_config(dir, "rev.csv");
    assert!(
        !c.features.numeric.iter().any(|f| f == "Unnamed: 0"),
        "{}",
        stdout
    );
    assert!(
        stdout.contains("'Unnamed: 0': the row number: not learned"),
        "{}",
        stdout
    );
}

/// One bad cell does not hide a column's role: `config --infer` still proposes the time,
/// the id and the label, and flags the cell by row and value (as `train` then refuses it),
/// and a feature column it leaves out for one bad number is flagged the same way.
#[test]
fn config_infer_flags_single_bad_cells_by_row_and_value() {
    let tmp = tempdir();
    let dir = tmp.path();
    let header = "commit,committed,la,bug,nf\n";
    let rows: Vec<[String; 5]> = (0..60u64)
        .map(|i| {
            [
                format!("c{i}"),
                format!("2024/{:02}/{:02} 10:00", 1 + i / 28, 1 + i % 28),
                ((i * 7) % 11).to_string(),
                (i % 2).to_string(),
                (1 + i % 5).to_string(),
            ]
        })
        .collect();
    // Row 8 (the 8th data row) gets `value` in column `at`.
    let spoil = |name: &str, at: usize, value: &str| {
        let mut text = header.to_string();
        for (i, row) in rows.iter().enumerate() {
            let mut row = row.clone();
            if i == 7 {
                row[at] = value.to_string();
            }
            text.push_str(&(row.join(",") + "\n"));
        }
        std::fs::write(dir.join(name), text).unwrap();
    };
    let infer = |name: &str| {
        let (config, text) = infer_config(dir, name);
        std::fs::write(dir.join("c.toml"), &text).unwrap();
        (config, text)
    };
    let cases = [
        (
            "time.csv",
            1,
            "NA",
            "'committed' holds no time in that format in 1 cell (row 8: 'NA')",
        ),
        (
            "zero.csv",
            1,
            "0000-00-00 00:00:00",
            "(row 8: '0000-00-00 00:00:00')",
        ),
        (
            "id.csv",
            0,
            "c3",
            "'commit' repeats an earlier row's value in 1 cell (row 8: 'c3'), first seen in row 4",
        ),
        (
            "label.csv",
            3,
            "NA",
            "'bug' holds no outcome in 1 cell (row 8: 'NA')",
        ),
    ];
    for (name, at, value, check) in cases {
        spoil(name, at, value);
        let (c, text) = infer(name);
        assert!(text.contains(check), "{text}");
        assert_eq!(c.columns.timestamp, "committed", "{text}");
        assert_eq!(c.columns.id, "commit", "{text}");
        assert_eq!(c.columns.label.as_deref(), Some("bug"), "{text}");
        assert_eq!(c.features.numeric, ["la", "nf"], "{text}");
        // `train` on the proposal refuses the same cell, naming it.
        let out = train_config(dir, "c.toml", name, &[]);
        let row = if at == 0 { "rows 4 and 8" } else { "row 8" };
        out.bad_input(&[name, row, &format!("{value:?}")]);
    }
    // A feature column with one cell that is no number: left out, and said where.
    spoil("la.csv", 2, "\"1,234\"");
    let (c, text) = infer("la.csv");
    assert_eq!(c.features.numeric, ["nf"], "{text}");
    assert!(
        text.contains(
            "'la': CHECK: numbers, but not a number within +-1e15 in 1 cell (row 8: '1,234')"
        ),
        "{text}"
    );
    // When it was the only feature, the refusal says why it was left out.
    let text: String = std::fs::read_to_string(dir.join("la.csv"))
        .unwrap()
        .lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(dir.join("only.csv"), text).unwrap();
    run(dir, ["config", "--infer", "only.csv"]).bad_input(&[
        "no column to learn from",
        "'la': CHECK: numbers, but not a number within +-1e15 in 1 cell (row 8: '1,234')",
    ]);
}

#[test]
fn config_infer_leaves_out_copies_of_the_label_and_flags_doubts() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut text = String::from(
        "id,date,bug_fix,buggy,outcome,la,release_date,bugcount,num_defects,prior_faults,commit_year\n",
    );
    for i in 0..40 {
        let buggy = (i * 7) % 3 == 0;
        text.push_str(&format!(
            "{},{:02}/{:02}/2024 10:00,{},{},{},{},{:02}/01/2024 09:00,{},{},{},{}\n",
            i + 1,
            1 + i % 12,
            1 + i % 12,
            i % 2,
            u8::from(buggy),
            if buggy { "buggy" } else { "clean" },
            i * 5,
            1 + i % 9,
            if buggy { 1 + i % 4 } else { 0 },
            i % 4,
            i % 5,
            2020 + i / 10
        ));
    }
    std::fs::write(dir.join("x.csv"), &text).unwrap();
    let (c, stdout) = infer_config(dir, "x.csv");
    // A whole-number id written 1..n is an id when named like one, not a row number.
    assert_eq!(c.columns.id, "id");
    // The leftmost time; the other is not a feature.
    assert_eq!(c.columns.timestamp, "date");
    assert!(stdout.contains("'release_date': another time"));
    // Day and month both at most 12: either order reads every value.
    assert!(stdout.contains("CHECK: every value of 'date' also parses as"));
    // The name ending like an outcome wins; the other candidate is named and left out.
    assert_eq!(c.columns.label.as_deref(), Some("buggy"));
    assert!(stdout.contains("CHECK: also named like an outcome and two-valued: bug_fix"));
    assert!(stdout.contains("'outcome': the label again"));
    // A count that is zero exactly where the label is negative is the label again;
    // another count named like the outcome is left out in case it was counted later.
    assert!(stdout.contains("'bugcount': CHECK: zero exactly where the label takes one value"));
    assert!(stdout.contains("'num_defects': CHECK: named like a count of the outcome"));
    assert!(stdout.contains("'commit_year': the year: not learned"));
    // A count of what came before the change is known when it is scored: learned.
    assert_eq!(c.features.numeric, ["la", "prior_faults"]);
    assert!(c.features.boolean.is_empty() && c.features.categorical.is_empty());

    // A placeholder for a missing time, which `train` would refuse, is flagged.
    let text = text.replacen("03/03/2024 10:00", "01/01/1970 00:00", 1);
    std::fs::write(dir.join("x.csv"), &text).unwrap();
    let (_, stdout) = infer_config(dir, "x.csv");
    assert!(
        stdout.contains("CHECK: 1 rows of 'date' hold a time before 1970-01-02"),
        "{}",
        stdout
    );
}

/// Trains on `h.csv` in `dir` (columns id, ts in Unix seconds, `names`, bug) with a
/// config declaring `names[0]` categorical and `names[1]` numeric, writing `m.json`.
fn train_levels(dir: &Path, names: [&str; 2]) -> crate::util::Run {
    let [categorical, numeric] = names;
    std::fs::write(
        dir.join("c.toml"),
        format!("[columns]\nid = \"id\"\ntimestamp = \"ts\"\ntimestamp_format = \"unix\"\nlabel = \"bug\"\n[features]\nnumeric = [\"{numeric}\"]\ncategorical = [\"{categorical}\"]\n"),
    )
    .unwrap();
    train_config(dir, "c.toml", "h.csv", &[])
}

/// Scores `h.csv` in `dir` with `m.json`; returns each change's reasons.
fn scored_reasons(dir: &Path) -> Vec<String> {
    let score = [
        "score",
        "--model",
        "m.json",
        "--changes",
        "h.csv",
        "--output",
        "s.csv",
    ];
    run(dir, score).success();
    crate::util::read_records(&dir.join("s.csv")).column("reasons")
}

/// Writes `h.csv`: 600 labelled changes an hour apart with a two-level column
/// (`names[0]`, `levels[0]` the more frequent and riskier) and a numeric one
/// (`names[1]`, higher for incident-causing changes when `numeric_signal`). Returns it.
fn level_history(dir: &Path, names: [&str; 2], levels: [&str; 2], numeric_signal: bool) -> String {
    let mut text = format!("id,ts,{},{},bug\n", names[0], names[1]);
    for i in 0..600u64 {
        let risky = i % 5 < 3;
        let bug = if risky { i % 7 < 4 } else { i % 11 == 0 };
        let signal = if numeric_signal && bug { 40 } else { 0 };
        text.push_str(&format!(
            "c{i},{},{},{},{}\n",
            1_700_000_000 + i * 3600,
            levels[usize::from(!risky)],
            (i * 37) % 100 + signal,
            u8::from(bug)
        ));
    }
    std::fs::write(dir.join("h.csv"), &text).unwrap();
    text
}

#[test]
fn reasons_for_a_config_category_name_the_changes_own_level() {
    let tmp = tempdir();
    let dir = tmp.path();
    // prod is the most frequent level (the baseline) and the risky one.
    let text = level_history(dir, ["env", "la"], ["prod", "staging"], false);
    train_levels(dir, ["env", "la"]).success();
    let reasons = scored_reasons(dir);
    let envs: Vec<String> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect();
    let mut named = 0;
    for (reason, env) in reasons.iter().zip(&envs) {
        assert!(
            !reason.contains('=') && !reason.trim_end().ends_with(" is"),
            "{reason}"
        );
        if reason.contains("env is") {
            assert!(
                reason.contains(&format!("env is {env}")),
                "{reason} for {env}"
            );
            named += 1;
        }
    }
    assert!(named > 100, "env named in {named} reasons");

    // A policy file on the contract's columns, which this config does not read: its
    // rule could never fire, and saying nothing would pass every change.
    std::fs::write(
        dir.join("p.toml"),
        "[[rule]]\nid = 'cf'\ndescription = 'd'\naction = 'block'\nwhen = { customer_facing = true }\n",
    )
    .unwrap();
    let score_with_policy = [
        "score",
        "--model",
        "m.json",
        "--changes",
        "h.csv",
        "--policy",
        "p.toml",
        "--output",
        "p.csv",
    ];
    run(dir, score_with_policy).bad_input(&[
        "p.toml",
        "rule 'cf'",
        "customer_facing",
        "never fire",
    ]);
    assert!(!dir.join("p.csv").exists());
}

#[test]
fn a_config_whose_every_feature_is_constant_is_refused() {
    let tmp = tempdir();
    let dir = tmp.path();
    let mut text = String::from("id,ts,env,la,bug\n");
    for i in 0..300u64 {
        text.push_str(&format!(
            "c{i},{},prod,5,{}\n",
            1_700_000_000 + i * 3600,
            i % 3 == 0
        ));
    }
    std::fs::write(dir.join("h.csv"), &text).unwrap();
    train_levels(dir, ["env", "la"]).bad_input(&[
        "no feature left to learn from",
        "column 'la' is constant",
        "column 'env' has a single level",
    ]);
    assert!(!dir.join("m.json").exists());
}

#[test]
fn config_columns_named_like_built_in_factors_are_worded_as_their_columns() {
    let tmp = tempdir();
    let dir = tmp.path();
    level_history(dir, ["review", "size"], ["rushed", "careful"], true);
    train_levels(dir, ["review", "size"]).success();
    let reasons = scored_reasons(dir);
    let (mut size, mut review) = (0, 0);
    for reason in &reasons {
        // Never the built-in wording, which reads columns this file does not have.
        for built_in in ["lines changed", "peer review", "approved by", "missing"] {
            assert!(!reason.contains(built_in), "{reason}");
        }
        size += usize::from(reason.contains("size is "));
        review += usize::from(reason.contains("review is rushed"));
    }
    assert!(size > 50 && review > 50, "size {size}, review {review}");
}
