//! `changerisk sql --dialect spark`: the query run by Spark SQL (PySpark in local mode,
//! over tables read from the same files) gives every change the logit, risk and tier
//! `changerisk` gives it, on the cases DuckDB checks in `sql`, and stops with the same
//! messages on input changerisk refuses. One Spark session runs every query (a session
//! takes 10-20 s to start).

use std::path::{Path, PathBuf};

use crate::sql::{
    assert_scores_equal, train_shipped_blend, write_case, write_edge_history,
    write_history_with_gaps, write_label_history, write_random_history, Case, Dialect, Reads,
    STRICT,
};
use crate::util::{python, read_records, repo_root, run, shipped_model, tempdir, train_config};

/// Runs the job file's queries in one local Spark session. Each table is read from its
/// file (CSV with a header, types inferred, RFC 4180 quotes; or Parquet); a score case
/// prints the same counts and differences as `sql`'s DuckDB check, an error case the
/// message `raise_error` stopped it with (or the error's first line, or `ran`). One JSON object per line.
const SPARK_CHECK: &str = r#"
import json, sys
from pyspark.sql import SparkSession

job = json.load(open(sys.argv[1]))
spark = (SparkSession.builder.master("local[2]").appName("changerisk-sql-check")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "2")
         .config("spark.sql.session.timeZone", "UTC")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

def tables(case):
    for name, path in case["tables"]:
        if path.endswith(".parquet"):
            df = spark.read.parquet(path)
        else:
            df = (spark.read.option("header", True).option("inferSchema", True)
                  .option("escape", '"').csv(path))
        df.createOrReplaceTempView(name)

for case in job["scores"]:
    tables(case)
    spark.read.parquet(case["expected"]).createOrReplaceTempView("expected")
    spark.sql(open(case["query"]).read()).createOrReplaceTempView("scored")
    r = spark.sql("""
        SELECT (SELECT count(*) FROM scored) AS rows,
               (SELECT count(DISTINCT change_id) FROM scored) AS ids,
               (SELECT count(*) FROM expected) AS expected_rows,
               count(*) AS matched, max(abs(s.logit - e.logit)) AS dlogit,
               max(abs(s.risk - e.risk)) AS drisk,
               sum(CASE WHEN s.tier = e.tier THEN 0 ELSE 1 END) AS tiers,
               sum(CASE WHEN s.risk IS NULL OR s.tier IS NULL THEN 1 ELSE 0 END) AS nulls
        FROM scored s JOIN expected e ON s.change_id = e.change_id
    """).collect()[0].asDict()
    r["label"] = case["label"]
    print(json.dumps(r), flush=True)

for case in job["errors"]:
    tables(case)
    try:
        spark.sql(open(case["query"]).read()).collect()
        message = "ran"
    except Exception as e:
        # raise_error's message (Spark 3.5: a java.lang.RuntimeException), from under
        # py4j's own first line.
        lines = str(e).strip().splitlines()
        marker = "java.lang.RuntimeException: "
        raised = [l.split(marker, 1)[1] for l in lines if marker in l]
        message = (raised or lines)[0]
    print(json.dumps({"label": case["label"], "error": message}), flush=True)
"#;

/// A query Spark must stop on with `expected` in its message (or run: `ran`).
struct Refusal {
    label: String,
    query: PathBuf,
    tables: Vec<(String, PathBuf)>,
    expected: &'static str,
}

/// Runs every case and refusal in one Spark session; the check's output, one JSON
/// object per case.
fn spark(dir: &Path, cases: &[Case], refusals: &[Refusal]) -> Vec<serde_json::Value> {
    let tables = |tables: &[(String, PathBuf)]| -> Vec<(String, String)> {
        tables
            .iter()
            .map(|(n, p)| (n.clone(), p.display().to_string()))
            .collect()
    };
    let job = serde_json::json!({
        "scores": cases.iter().map(|c| serde_json::json!({
            "label": c.label,
            "query": c.query,
            "expected": c.expected,
            "tables": tables(&c.tables),
        })).collect::<Vec<_>>(),
        "errors": refusals.iter().map(|r| serde_json::json!({
            "label": r.label,
            "query": r.query,
            "tables": tables(&r.tables),
        })).collect::<Vec<_>>(),
    });
    let file = dir.join("spark_job.json");
    std::fs::write(&file, job.to_string()).unwrap();
    let output = std::process::Command::new(python())
        .current_dir(dir)
        .args(["-c", SPARK_CHECK])
        .arg(&file)
        .output()
        .expect("python starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Spark failed after {} of {} queries:\n{stdout}\n{}",
        stdout.lines().count(),
        cases.len() + refusals.len(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn spark_scores_and_refuses_as_changerisk_and_duckdb_do() {
    let tmp = tempdir();
    let dir = tmp.path();
    let root = repo_root();
    let mut cases = Vec::new();

    // The shipped history: the shipped logistic model over the export's table, and a
    // blend (trees, the change's time) over the shipped files themselves.
    let changes = root.join("data/changes.csv").display().to_string();
    let incidents = root.join("data/incidents.csv").display().to_string();
    let shipped = ["--changes", &changes, "--incidents", &incidents];
    let model = shipped_model();
    cases.push(write_case(
        dir,
        &model,
        &shipped,
        Reads::Export("parquet"),
        Dialect::Spark,
        "shipped",
    ));
    train_shipped_blend(dir, "blend.json", &[]);
    let raw = Reads::Raw {
        changes: &changes,
        incidents: Some(&incidents),
    };
    cases.push(write_case(
        dir,
        &dir.join("blend.json"),
        &shipped,
        raw,
        Dialect::Spark,
        "shipped_raw",
    ));

    // Every labelling and history path, by the shipped model and by a blend with a
    // severity cut and a 2-hour attribution window.
    write_edge_history(dir);
    let edge = [
        "--changes",
        "edge_changes.csv",
        "--incidents",
        "edge_incidents.csv",
    ];
    let edge_raw = || Reads::Raw {
        changes: "edge_changes.csv",
        incidents: Some("edge_incidents.csv"),
    };
    cases.push(write_case(
        dir,
        &model,
        &edge,
        edge_raw(),
        Dialect::Spark,
        "edge",
    ));
    train_shipped_blend(dir, "strict.json", &STRICT);
    cases.push(write_case(
        dir,
        &dir.join("strict.json"),
        &edge,
        edge_raw(),
        Dialect::Spark,
        "edge_strict",
    ));

    // Seeded random histories (ties, padded cells, every kind of cause and severity),
    // each in a folder of its own.
    for seed in [0, 3, 7] {
        let sub = dir.join(format!("random{seed}"));
        std::fs::create_dir(&sub).unwrap();
        write_random_history(&sub, seed);
        let inputs = [
            "--changes",
            "random_changes.csv",
            "--incidents",
            "random_incidents.csv",
        ];
        let raw = Reads::Raw {
            changes: "random_changes.csv",
            incidents: Some("random_incidents.csv"),
        };
        cases.push(write_case(
            &sub,
            &model,
            &inputs,
            raw,
            Dialect::Spark,
            "random",
        ));
    }

    // A config's own columns with gaps, quotes and spaces, by each learner.
    let own = dir.join("own");
    std::fs::create_dir(&own).unwrap();
    write_history_with_gaps(&own);
    for learner in ["logistic", "gbdt", "blend"] {
        train_config(
            &own,
            "own.toml",
            "history.csv",
            &["--quiet", "--learner", learner],
        )
        .success();
        let m = own.join(format!("{learner}.json"));
        std::fs::rename(own.join("m.json"), &m).unwrap();
        let inputs = ["--changes", "history.csv"];
        let reads = if learner == "gbdt" {
            Reads::Export("parquet")
        } else {
            Reads::Raw {
                changes: "history.csv",
                incidents: None,
            }
        };
        cases.push(write_case(
            &own,
            &m,
            &inputs,
            reads,
            Dialect::Spark,
            learner,
        ));
    }

    // A label config with a service, an author and Unix milliseconds.
    let label = dir.join("label");
    std::fs::create_dir(&label).unwrap();
    write_label_history(&label);
    train_config(
        &label,
        "label.toml",
        "label.csv",
        &["--quiet", "--learner", "blend"],
    )
    .success();
    let raw = Reads::Raw {
        changes: "label.csv",
        incidents: None,
    };
    cases.push(write_case(
        &label,
        &label.join("m.json"),
        &["--changes", "label.csv"],
        raw,
        Dialect::Spark,
        "label",
    ));

    let refusals = refusals(dir);
    let results = spark(dir, &cases, &refusals);
    assert_eq!(results.len(), cases.len() + refusals.len());
    for (case, got) in cases.iter().zip(&results) {
        assert_eq!(got["label"], case.label.as_str());
        assert_scores_equal(&case.label, got);
    }
    for (refusal, got) in refusals.iter().zip(&results[cases.len()..]) {
        assert_eq!(got["label"], refusal.label.as_str());
        let error = got["error"].as_str().unwrap();
        let matches = if refusal.expected == "ran" {
            error == "ran"
        } else {
            error.contains(refusal.expected)
        };
        assert!(
            matches,
            "{}: expected {:?}, got {error:?}",
            refusal.label, refusal.expected
        );
    }
}

/// Queries over spoiled copies of the first 400 shipped changes and their incidents,
/// each with the message Spark must stop with (the last one, unspoiled, runs).
fn refusals(dir: &Path) -> Vec<Refusal> {
    let root = repo_root();
    let mut changes = read_records(&root.join("data/changes.csv"));
    changes.rows.truncate(400);
    let until = changes.rows.last().unwrap()[changes.col("timestamp")].clone();
    let incidents = read_records(&root.join("data/incidents.csv"));
    let start = incidents.col("start_time");
    let incidents = incidents.filtered(|r| r[start] <= until);
    let spoil = |records: &crate::util::Records, row: usize, column: &str, value: &str| {
        let mut spoiled = records.clone();
        let k = spoiled.col(column);
        spoiled.rows[row][k] = value.to_string();
        spoiled
    };
    let mut twice = changes.clone();
    twice.rows.push(twice.rows[7].clone());
    let cases = [
        (twice, None, "the changes (--from): a change_id appears twice"),
        (
            spoil(&changes, 4, "ai_involvement", "AI-agent"),
            None,
            "the changes (--from): ai_involvement holds a value other than none, assisted, agent",
        ),
        (
            spoil(&changes, 4, "customer_facing", "maybe"),
            None,
            "the changes (--from): customer_facing holds a value other than true/false, 1/0 or yes/no",
        ),
        (
            spoil(&changes, 4, "services_affected", ""),
            None,
            "the changes (--from): a change has no services_affected (required)",
        ),
        (
            changes.clone(),
            Some(spoil(&incidents, 3, "severity", "")),
            "the incidents (--incidents): a severity is not 1..5 or sev1..sev5",
        ),
        (
            changes.clone(),
            Some(spoil(&incidents, 3, "incident_id", "")),
            "the incidents (--incidents): an incident has no incident_id",
        ),
        (changes.clone(), None, "ran"),
    ];
    let incidents_file = dir.join("refusal_incidents.csv");
    incidents.write(&incidents_file);
    let model = shipped_model().display().to_string();
    let mut refusals = Vec::new();
    for (k, (changes, spoiled_incidents, expected)) in cases.into_iter().enumerate() {
        let changes_file = dir.join(format!("refusal{k}_changes.csv"));
        changes.write(&changes_file);
        let incidents = match spoiled_incidents {
            Some(spoiled) => {
                let file = dir.join(format!("refusal{k}_incidents.csv"));
                spoiled.write(&file);
                file
            }
            None => incidents_file.clone(),
        };
        let query = dir.join(format!("refusal{k}.sql"));
        let args = [
            "sql",
            "--model",
            &model,
            "--dialect",
            "spark",
            "--raw",
            "--from",
            "changes",
            "--incidents",
            "incidents",
            "--output",
            query.to_str().unwrap(),
        ];
        run(dir, args).success();
        refusals.push(Refusal {
            label: format!("refusal {k}"),
            query,
            tables: vec![
                ("changes".to_string(), changes_file),
                ("incidents".to_string(), incidents),
            ],
            expected,
        });
    }
    refusals
}
