//! `changerisk sql`: the query it writes, run by DuckDB over the table `export` writes,
//! gives every change the logit, risk and tier `changerisk` gives it (the built-in
//! features and a config's own columns with gaps, odd names and quotes; logistic, trees
//! and blends), and the command refuses bad usage with exit code 2.

use std::path::{Path, PathBuf};

use crate::util::{
    at_hours, generate, python, read_records, repo_root, run, shipped_model, tempdir, train_config,
    write_changes, write_incidents, ChangeRow, IncidentRow, Records,
};

/// Runs `query` (a file) in DuckDB and compares its rows with the export's scored
/// changes (`expected`, Parquet), by change id.
const DUCKDB_CHECK: &str = r#"
import json, sys
import duckdb

query, expected = open(sys.argv[1]).read(), sys.argv[2]
con = duckdb.connect()
con.execute(f"CREATE VIEW scored AS {query}")
con.execute(f"CREATE VIEW expected AS SELECT * FROM read_parquet('{expected}')")
rows, ids = con.execute("SELECT count(*), count(DISTINCT change_id) FROM scored").fetchone()
(expected_rows,) = con.execute("SELECT count(*) FROM expected").fetchone()
matched, dlogit, drisk, tiers, nulls = con.execute("""
    SELECT count(*), max(abs(s.logit - e.logit)), max(abs(s.risk - e.risk)),
           sum(CASE WHEN s.tier = e.tier THEN 0 ELSE 1 END),
           sum(CASE WHEN s.risk IS NULL OR s.tier IS NULL THEN 1 ELSE 0 END)
    FROM scored s JOIN expected e USING (change_id)
""").fetchone()
print(json.dumps(dict(rows=rows, ids=ids, expected_rows=expected_rows, matched=matched,
                      dlogit=dlogit, drisk=drisk, tiers=tiers, nulls=nulls)))
"#;

/// Runs the Python `script` (which uses DuckDB) in `dir` with `args`; its stdout.
fn duckdb<A: AsRef<std::ffi::OsStr>>(
    dir: &Path,
    script: &str,
    args: impl IntoIterator<Item = A>,
) -> String {
    let output = std::process::Command::new(python())
        .current_dir(dir)
        .args(["-c", script])
        .args(args)
        .output()
        .expect("python starts");
    assert!(
        output.status.success(),
        "DuckDB failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What the query reads.
pub(crate) enum Reads<'a> {
    /// The `export` table in this format.
    Export(&'a str),
    /// The changes and incidents files themselves (`--raw`): DuckDB's `read_csv`, or
    /// tables of those names (Spark).
    Raw {
        changes: &'a str,
        incidents: Option<&'a str>,
    },
    /// The changes and incidents as DuckDB table expressions, given whole
    /// (`read_parquet('t/*/*.parquet', hive_partitioning = true)`).
    RawFrom {
        changes: &'a str,
        incidents: Option<&'a str>,
    },
}

/// The dialect a query is written in, and so the engine that runs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Dialect {
    DuckDb,
    Spark,
}

/// One query to run and what it must give.
pub(crate) struct Case {
    /// What it is, for messages (the model file and what it reads).
    pub label: String,
    pub query: PathBuf,
    /// The export's scored changes (Parquet).
    pub expected: PathBuf,
    /// The tables a Spark query reads by name, and their files.
    pub tables: Vec<(String, PathBuf)>,
}

/// Exports the history `inputs` (its `--changes` and `--incidents`) scored by `model`
/// (in `dir`) and writes the query over what `reads` says in `dialect`, its files named
/// by `tag` (`{tag}.sql`, `export_{tag}/`).
pub(crate) fn write_case(
    dir: &Path,
    model: &Path,
    inputs: &[&str],
    reads: Reads,
    dialect: Dialect,
    tag: &str,
) -> Case {
    let out = dir.join(format!("export_{tag}"));
    let (model, out_text) = (model.display().to_string(), out.display().to_string());
    let export = [
        &[
            "export", "--quiet", "--model", &model, "--output", &out_text,
        ],
        inputs,
    ]
    .concat();
    run(dir, &export).success();
    let spark = dialect == Dialect::Spark;
    let mut sql = vec!["sql".to_string(), "--model".into(), model.clone()];
    if spark {
        sql.extend(["--dialect".into(), "spark".into()]);
    }
    let mut tables = Vec::new();
    let format = match reads {
        Reads::Export(format) => {
            if format != "parquet" {
                let again = [&export[..], &["--format", format]].concat();
                run(dir, again).success();
            }
            let table = out.join(format!("changes.{format}"));
            let from = if spark {
                tables.push(("exported".to_string(), table));
                "exported".to_string()
            } else {
                let reader = if format == "csv" {
                    "read_csv"
                } else {
                    "read_parquet"
                };
                format!("{reader}('{}')", table.display())
            };
            sql.extend(["--from".into(), from]);
            format
        }
        Reads::Raw { changes, incidents } => {
            let mut name = |table: &str, file: &str| {
                if spark {
                    tables.push((table.to_string(), dir.join(file)));
                    table.to_string()
                } else {
                    format!("read_csv('{file}')")
                }
            };
            sql.extend(["--raw".into(), "--from".into(), name("changes", changes)]);
            if let Some(incidents) = incidents {
                sql.extend(["--incidents".into(), name("incidents", incidents)]);
            }
            "raw"
        }
        Reads::RawFrom { changes, incidents } => {
            assert!(!spark, "table expressions are DuckDB's");
            sql.extend(["--raw".into(), "--from".into(), changes.into()]);
            if let Some(incidents) = incidents {
                sql.extend(["--incidents".into(), incidents.into()]);
            }
            "raw"
        }
    };
    let query = dir.join(format!("{tag}.sql"));
    sql.extend(["--output".into(), query.display().to_string()]);
    run(dir, sql).success();
    Case {
        label: format!(
            "{model} ({format}, {dialect:?}, {})",
            dir.join(tag).display()
        ),
        query,
        expected: out.join("changes.parquet"),
        tables,
    }
}

/// Asserts a check's counts and differences (`got`, from [`DUCKDB_CHECK`] or Spark's):
/// every change once, each logit within 1e-12, risk within 1e-14 and tier equal.
pub(crate) fn assert_scores_equal(label: &str, got: &serde_json::Value) {
    let n = got["expected_rows"].as_u64().unwrap();
    assert!(n > 0);
    for key in ["rows", "ids", "matched"] {
        assert_eq!(got[key].as_u64(), Some(n), "{key} of {label}: {got}");
    }
    assert_eq!(got["nulls"].as_u64(), Some(0), "{label}: {got}");
    assert_eq!(
        got["tiers"].as_u64(),
        Some(0),
        "tiers differ, {label}: {got}"
    );
    let (dlogit, drisk) = (
        got["dlogit"].as_f64().unwrap(),
        got["drisk"].as_f64().unwrap(),
    );
    assert!(dlogit <= 1e-12, "logits differ by {dlogit} ({label})");
    assert!(drisk <= 1e-14, "risks differ by {drisk} ({label})");
}

/// Trains a blend (`model`, in `dir`) on the shipped history with `flags`.
pub(crate) fn train_shipped_blend(dir: &Path, model: &str, flags: &[&str]) {
    let root = repo_root();
    let changes = root.join("data/changes.csv").display().to_string();
    let incidents = root.join("data/incidents.csv").display().to_string();
    let args = [
        &["train", "--quiet", "--learner", "blend", "--model", model][..],
        &["--changes", &changes, "--incidents", &incidents],
        flags,
    ]
    .concat();
    run(dir, args).success();
}

/// The flags of a blend whose labelling ignores severities 4 and 5 and attributes within
/// 2 hours.
pub(crate) const STRICT: [&str; 4] = ["--max-severity", "3", "--attribution-window", "2h"];

/// Writes the query for `model` over what `reads` says, runs it in DuckDB and asserts
/// every change's logit, risk and tier equal the export's.
fn assert_duckdb_scores_as_changerisk(dir: &Path, model: &Path, inputs: &[&str], reads: Reads) {
    let case = write_case(dir, model, inputs, reads, Dialect::DuckDb, "score");
    let stdout = duckdb(dir, DUCKDB_CHECK, [case.query, case.expected]);
    let got: serde_json::Value = serde_json::from_str(&stdout).expect("the check's JSON");
    assert_scores_equal(&case.label, &got);
}

#[test]
fn duckdb_scores_the_shipped_history_as_changerisk_does() {
    let dir = tempdir();
    let root = repo_root();
    let changes = root.join("data/changes.csv").display().to_string();
    let incidents = root.join("data/incidents.csv").display().to_string();
    let inputs = ["--changes", &changes, "--incidents", &incidents];
    // The shipped model (logistic), then a blend (the trees and the change's time too).
    assert_duckdb_scores_as_changerisk(
        dir.path(),
        &shipped_model(),
        &inputs,
        Reads::Export("parquet"),
    );
    train_shipped_blend(dir.path(), "blend.json", &[]);
    let blend = dir.path().join("blend.json");
    assert_duckdb_scores_as_changerisk(dir.path(), &blend, &inputs, Reads::Export("parquet"));
    // CSV: an empty `ai_tool` reads back as NULL, which the query reads as changerisk does.
    assert_duckdb_scores_as_changerisk(dir.path(), &blend, &inputs, Reads::Export("csv"));
    // From the shipped files themselves: the query links the incidents and computes the
    // calendar and the history.
    let raw = Reads::Raw {
        changes: &changes,
        incidents: Some(&incidents),
    };
    assert_duckdb_scores_as_changerisk(dir.path(), &blend, &inputs, raw);
}

/// A partitioned table (Parquet parts by month, the month a directory level), which
/// `export` reads whole and DuckDB reads with `hive_partitioning`: the query scores it
/// as changerisk does.
#[test]
fn duckdb_scores_a_partitioned_table_as_changerisk_does() {
    let tmp = tempdir();
    let dir = tmp.path();
    let history = generate(dir, 41);
    let changes = crate::partitioned::with_period(&read_records(&history.changes), "month", 7);
    crate::partitioned::partition(&changes, "month", "parquet", dir.join("parts"));
    let inputs = ["--changes", "parts", "--incidents", "incidents.csv"];
    let reads = Reads::RawFrom {
        // (The parts hold the time as text, which the query reads as a timestamp type.)
        changes: "(SELECT * REPLACE (CAST(\"timestamp\" AS TIMESTAMPTZ) AS \"timestamp\") \
                  FROM read_parquet('parts/*/*.parquet', hive_partitioning = true))",
        incidents: Some("read_csv('incidents.csv')"),
    };
    assert_duckdb_scores_as_changerisk(dir, &shipped_model(), &inputs, reads);
}

/// A label-column history whose own columns have gaps, quotes and spaces in their names
/// and levels: numeric `size "kb"` (10% empty, 3% `NaN`), boolean `hot fix` (some missing),
/// categorical `team` (missing, rare levels pooled, a level with a quote and a backslash),
/// numeric `t`, a name the query itself uses inside, and numeric `hour`, the config's own
/// (not the calendar's, which only the built-in features have).
pub(crate) fn write_history_with_gaps(dir: &Path) {
    let mut text = String::from("id,when,broke,\"size \"\"kb\"\"\",hot fix,team,t,hour\n");
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let teams = ["core", "web", "o'brien\\ops", "data"];
    for i in 0..3000 {
        let size = 2000.0 * next() * next();
        let hot = next() < 0.2;
        // Three levels of 7 rows each: rarer than the model keeps apart (pooled: `other`).
        let team = if i % 150 == 0 {
            format!("tiny-{}", (i / 150) % 3)
        } else {
            teams[((next() * 4.0) as usize).min(3)].to_string()
        };
        let logit = -2.5
            + 1.2 * (size / 500.0)
            + if hot { 1.0 } else { 0.0 }
            + if team == "web" { 0.8 } else { 0.0 };
        let broke = next() < 1.0 / (1.0 + (-logit).exp());
        let size = match next() {
            u if u < 0.1 => String::new(),
            // Read as missing, as an empty cell is.
            u if u < 0.13 => "NaN".to_string(),
            _ => format!("{size:.1}"),
        };
        let hot = if next() < 0.05 {
            ""
        } else if hot {
            "yes"
        } else {
            "no"
        };
        let team = if next() < 0.05 { String::new() } else { team };
        let team = if team.contains('\'') {
            format!("\"{team}\"")
        } else {
            team
        };
        text.push_str(&format!(
            "c{i},{},{},{size},{hot},{team},{:.2},{:.1}\n",
            1_600_000_000 + i * 3600,
            u8::from(broke),
            next(),
            100.0 * next()
        ));
    }
    std::fs::write(dir.join("history.csv"), text).unwrap();
    std::fs::write(
        dir.join("own.toml"),
        "[columns]\nid = \"id\"\ntimestamp = \"when\"\ntimestamp_format = \"unix\"\nlabel = \"broke\"\n\n\
         [features]\nnumeric = ['size \"kb\"', \"t\", \"hour\"]\nboolean = [\"hot fix\"]\ncategorical = [\"team\"]\n",
    )
    .unwrap();
}

#[test]
fn duckdb_scores_a_configs_own_columns_with_gaps_as_changerisk_does() {
    let dir = tempdir();
    write_history_with_gaps(dir.path());
    for learner in ["logistic", "gbdt", "blend"] {
        train_config(
            dir.path(),
            "own.toml",
            "history.csv",
            &["--quiet", "--learner", learner],
        )
        .success();
        let model = dir.path().join(format!("{learner}.json"));
        std::fs::rename(dir.path().join("m.json"), &model).unwrap();
        let text = std::fs::read_to_string(&model).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        if learner == "logistic" {
            // The query meets every way a config's column reaches the logistic model.
            let weighed: Vec<String> = json["features"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["coefficient"].as_f64() != Some(0.0))
                .map(|f| f["expr"].to_string())
                .collect();
            for op in ["missing", "other", "is", "log1p"] {
                let op = format!("\"op\":\"{op}\"");
                assert!(weighed.iter().any(|e| e.contains(&op)), "{op}: {weighed:?}");
            }
        } else {
            assert!(json["trees"]["trees"]
                .as_array()
                .is_some_and(|t| !t.is_empty()));
        }
        let inputs = ["--changes", "history.csv"];
        assert_duckdb_scores_as_changerisk(dir.path(), &model, &inputs, Reads::Export("parquet"));
        let raw = Reads::Raw {
            changes: "history.csv",
            incidents: None,
        };
        assert_duckdb_scores_as_changerisk(dir.path(), &model, &inputs, raw);
        let with_incidents = ["sql", "--raw", "--incidents", "incidents", "--model"];
        let refused = run(
            dir.path(),
            [&with_incidents[..], &[model.to_str().unwrap()]].concat(),
        );
        assert_eq!(refused.code, Some(2), "a label model reads no incidents");
        assert!(refused.stderr.contains("leave --incidents out"));
    }
}

/// Values on a tree's split over `ln(1 + x)`: `x = expm1(threshold)` and its neighbours,
/// where the engine's `LN(1 + x)` and changerisk's `ln_1p` may differ in the last bit
/// (OpenStack's first 300 changes, through the shipped config, every column log1p). The
/// query splits on `x` itself, so every change takes changerisk's branch.
#[test]
fn duckdb_sends_a_change_on_a_log1p_split_the_way_changerisk_does() {
    let dir = tempdir();
    let root = repo_root();
    let openstack = read_records(&root.join("../shared/datasets/jit/openstack.csv"));
    let mut slice = Records {
        header: openstack.header.clone(),
        rows: openstack.rows[..300].to_vec(),
    };
    slice.write(&dir.path().join("train.csv"));
    let config = root.join("data/examples/openstack.toml");
    let flags = ["--quiet", "--learner", "gbdt"];
    train_config(dir.path(), config.to_str().unwrap(), "train.csv", &flags).success();
    let model = dir.path().join("m.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let features = json["features"].as_array().unwrap();
    let mut edges: Vec<(String, f64)> = Vec::new();
    for tree in json["trees"]["trees"].as_array().unwrap() {
        for node in tree["nodes"].as_array().unwrap() {
            let (Some(j), Some(t)) = (node["feature"].as_u64(), node["threshold"].as_f64()) else {
                continue;
            };
            let expr = &features[j as usize]["expr"];
            if expr["op"] == "log1p" && expr["column"] != "fix" {
                edges.push((expr["column"].as_str().unwrap().to_string(), t));
            }
        }
    }
    edges.sort_by(|a, b| a.partial_cmp(b).unwrap());
    edges.dedup();
    assert!(edges.len() >= 20, "few log1p splits: {edges:?}");
    let n = slice.rows.len();
    for (k, (column, t)) in edges.iter().enumerate() {
        let x = t.exp_m1();
        let around = [
            f64::from_bits(x.to_bits() - 1),
            x,
            f64::from_bits(x.to_bits() + 1),
        ];
        for (d, value) in around.into_iter().enumerate() {
            let mut row = slice.rows[(k * 37) % n].clone();
            row[slice.col("_id")] = format!("edge-{k}-{d}");
            row[slice.col(column)] = value.to_string();
            slice.rows.push(row);
        }
    }
    slice.write(&dir.path().join("edges.csv"));
    let inputs = ["--changes", "edges.csv"];
    let raw = Reads::Raw {
        changes: "edges.csv",
        incidents: None,
    };
    assert_duckdb_scores_as_changerisk(dir.path(), &model, &inputs, raw);
}

/// Changes and incidents that take every path of the labelling and the history: named
/// causes with spaces, an integer form (`123.0` for change `123`), unknown ids only (not
/// attributed), attribution among changes of one second (the greatest id), severities
/// as text, an incident on a service no change touches, a named cause that started
/// before its change, an incident at its cause's very second; spellings the loader
/// accepts in any case.
pub(crate) fn write_edge_history(dir: &Path) {
    let mut changes = vec![
        ChangeRow::new("c1", &at_hours(9.0)),
        ChangeRow::new("p1", &at_hours(9.5)).on("payments", "bo"),
        ChangeRow::new("123", &at_hours(10.0)).risky(),
        ChangeRow::new("c3", &at_hours(11.0)),
        ChangeRow::new("c4", &at_hours(11.0)).on("checkout", "bo"),
        ChangeRow::new("c5", &at_hours(12.0)).risky(),
        ChangeRow::new("c6", &at_hours(13.0)),
        ChangeRow::new("p2", &at_hours(30.0)).on("payments", "ana"),
        ChangeRow::new("c7", &at_hours(36.0)),
        ChangeRow::new("c8", &at_hours(40.0))
            .risky()
            .on("checkout", "cy"),
        ChangeRow::new("c9", &at_hours(24.0 * 9.0)).on("checkout", "bo"),
        ChangeRow::new("c10", &at_hours(24.0 * 9.0 + 1.0)).on("checkout", "cy"),
    ];
    changes[3].ai_involvement = " Assisted ".into();
    changes[4].customer_facing = " Yes".into();
    changes[5].rollback_plan = String::new();
    changes[6].review_status = "SELF_APPROVED".into();
    write_changes(&dir.join("edge_changes.csv"), &changes);
    let mut incidents = vec![
        IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("123.0 ; unknown-x"),
        IncidentRow::new("i2", &at_hours(11.5), "checkout"),
        IncidentRow::new("i3", &at_hours(12.5), "checkout").caused_by("nope"),
        IncidentRow::new("i4", &at_hours(13.5), "checkout"),
        IncidentRow::new("i5", &at_hours(20.0), "payments"),
        IncidentRow::new("i6", &at_hours(2.0), "search"),
        IncidentRow::new("i7", &at_hours(35.0), "checkout").caused_by(" c1 ; c5 ;"),
        IncidentRow::new("i8", &at_hours(33.0), "checkout").caused_by("c7"),
        IncidentRow::new("i9", &at_hours(39.0), "checkout"),
        // At c8's very second: c8 (applied at or before the start) is the cause.
        IncidentRow::new("i10", &at_hours(40.0), "checkout"),
    ];
    incidents[3].severity = "Sev4".into();
    incidents[4].severity = "1".into();
    incidents[8].severity = "sev5".into();
    write_incidents(&dir.join("edge_incidents.csv"), &incidents);
}

#[test]
fn duckdb_links_incidents_and_counts_history_as_changerisk_does() {
    let dir = tempdir();
    write_edge_history(dir.path());
    let inputs = [
        "--changes",
        "edge_changes.csv",
        "--incidents",
        "edge_incidents.csv",
    ];
    let raw = || Reads::Raw {
        changes: "edge_changes.csv",
        incidents: Some("edge_incidents.csv"),
    };
    assert_duckdb_scores_as_changerisk(dir.path(), &shipped_model(), &inputs, raw());
    // A model whose labelling ignores severities 4 and 5 and attributes within 2 hours,
    // with trees: its query links and counts by those settings.
    train_shipped_blend(dir.path(), "strict.json", &STRICT);
    let strict = dir.path().join("strict.json");
    assert_duckdb_scores_as_changerisk(dir.path(), &strict, &inputs, raw());
    let query = std::fs::read_to_string(dir.path().join("score.sql")).unwrap();
    assert!(query.contains("<= 3\n"), "the severity cut");
    assert!(
        query.contains("u.t - u.change_t <= 7200\n"),
        "the attribution window"
    );
}

/// A seeded random history: few services, authors and seconds (so ties are common),
/// numeric and text ids, contract spellings in any case, incidents naming known, unknown,
/// several and integer-form causes or none, text and numeric severities, some at a
/// change's very second and some on a service no change touches.
pub(crate) fn write_random_history(dir: &Path, seed: u64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = rng.gen_range(30..120);
    let mut hours: Vec<f64> = Vec::new();
    let mut changes = Vec::new();
    for i in 0..n {
        // A third of the changes share the second of an earlier one.
        let h = if !hours.is_empty() && rng.gen_bool(0.3) {
            hours[rng.gen_range(0..hours.len())]
        } else {
            f64::from(rng.gen_range(0..24 * 20)) + f64::from(rng.gen_range(0..4)) * 0.25
        };
        hours.push(h);
        let id = if rng.gen_bool(0.3) {
            (1000 + i).to_string()
        } else {
            format!("c{i}")
        };
        // Cells padded with spaces and tabs, which changerisk trims.
        let pad = |rng: &mut rand_chacha::ChaCha8Rng, text: &str| match rng.gen_range(0..10) {
            0 => format!(" {text}"),
            1 => format!("{text}\t"),
            _ => text.to_string(),
        };
        let id = pad(&mut rng, &id);
        let service = ["a", "b", "c"][rng.gen_range(0..3)];
        let service = pad(&mut rng, service);
        let author = ["x", "y", "z", "w"][rng.gen_range(0..4)];
        let author = pad(&mut rng, author);
        let mut row = ChangeRow::new(&id, &at_hours(h)).on(&service, &author);
        if rng.gen_bool(0.2) {
            row.ai_tool = pad(&mut rng, " copilot");
        }
        if rng.gen_bool(0.4) {
            row = row.risky();
        }
        if rng.gen_bool(0.2) {
            row.ai_involvement = row.ai_involvement.to_uppercase();
        }
        if rng.gen_bool(0.2) {
            row.rollback_plan = ["", "YES", "0"][rng.gen_range(0..3)].into();
        }
        changes.push(row);
    }
    let ids: Vec<String> = changes
        .iter()
        .map(|c| c.change_id.trim().to_string())
        .collect();
    let mut incidents = Vec::new();
    for k in 0..rng.gen_range(0..40) {
        let h = if rng.gen_bool(0.2) {
            hours[rng.gen_range(0..hours.len())]
        } else {
            f64::from(rng.gen_range(0..24 * 21)) + 0.5
        };
        let service = ["a", "b", "c", "elsewhere", "a\t"][rng.gen_range(0..5)];
        let mut row = IncidentRow::new(&format!("i{k}"), &at_hours(h), service);
        let some_id = |rng: &mut rand_chacha::ChaCha8Rng| ids[rng.gen_range(0..ids.len())].clone();
        row.caused_by_change = match rng.gen_range(0..8) {
            0 => some_id(&mut rng),
            1 => format!("{} ; {}", some_id(&mut rng), some_id(&mut rng)),
            2 => "unknown".into(),
            3 => format!("{}.0", some_id(&mut rng)),
            4 => " ; \t".into(),
            _ => String::new(),
        };
        row.severity = match rng.gen_range(0..4) {
            0 => format!("sev{}", rng.gen_range(1..6)),
            _ => rng.gen_range(1..6).to_string(),
        };
        incidents.push(row);
    }
    write_changes(&dir.join("random_changes.csv"), &changes);
    write_incidents(&dir.join("random_incidents.csv"), &incidents);
}

#[test]
fn duckdb_scores_random_histories_as_changerisk_does() {
    let dir = tempdir();
    let inputs = [
        "--changes",
        "random_changes.csv",
        "--incidents",
        "random_incidents.csv",
    ];
    let raw = || Reads::Raw {
        changes: "random_changes.csv",
        incidents: Some("random_incidents.csv"),
    };
    for seed in 0..12 {
        eprintln!("random history, seed {seed}");
        write_random_history(dir.path(), seed);
        assert_duckdb_scores_as_changerisk(dir.path(), &shipped_model(), &inputs, raw());
    }
}

/// A label config's history (`label.csv`, `label.toml`) with times in Unix milliseconds
/// (ties included), a service and an author column and a label: the history counts
/// changes only.
pub(crate) fn write_label_history(dir: &Path) {
    let mut text = String::from("sha,ms,bad,repo,dev,churn\n");
    let mut state: u64 = 11;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for i in 0..2000 {
        let ms = 1_600_000_000_000_u64 + (i as u64 / 2) * 3_600_000 + (next() % 999) as u64;
        let (repo, dev, churn) = (next() % 5, next() % 40, next() % 500);
        let bad = u8::from(churn > 300 || (repo == 2 && next() % 3 == 0));
        text.push_str(&format!("s{i},{ms},{bad},r{repo},d{dev},{churn}\n"));
    }
    std::fs::write(dir.join("label.csv"), text).unwrap();
    std::fs::write(
        dir.join("label.toml"),
        "[columns]\nid = \"sha\"\ntimestamp = \"ms\"\ntimestamp_format = \"unix_ms\"\nlabel = \"bad\"\n\
         service = \"repo\"\nauthor = \"dev\"\n\n[features]\nnumeric = [\"churn\"]\n",
    )
    .unwrap();
}

#[test]
fn duckdb_counts_a_label_configs_history_of_changes_as_changerisk_does() {
    let dir = tempdir();
    write_label_history(dir.path());
    train_config(
        dir.path(),
        "label.toml",
        "label.csv",
        &["--quiet", "--learner", "blend"],
    )
    .success();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("m.json")).unwrap()).unwrap();
    let reads_history = json["features"].as_array().unwrap().iter().any(|f| {
        let e = f["expr"].to_string();
        e.contains("service_prior_changes") || e.contains("author_prior_changes")
    });
    assert!(reads_history, "the model reads the history of changes");
    let inputs = ["--changes", "label.csv"];
    let raw = Reads::Raw {
        changes: "label.csv",
        incidents: None,
    };
    assert_duckdb_scores_as_changerisk(dir.path(), &dir.path().join("m.json"), &inputs, raw);
}

/// Scores `new` with `history` in DuckDB and compares with a scored CSV of changerisk's.
const DUCKDB_AGAINST_SCORED: &str = r#"
import json, sys
import duckdb

query, history, new, incidents, scored = sys.argv[1:]
con = duckdb.connect()
con.execute(f"CREATE TABLE history AS FROM read_csv('{history}')")
con.execute(f"CREATE TABLE new_changes AS FROM read_csv('{new}')")
con.execute(f"CREATE TABLE incidents AS FROM read_csv('{incidents}')")
con.execute("CREATE TABLE scored AS " + open(query).read())
n, drisk, tiers, moved = con.execute(f"""
    SELECT count(*), max(abs(s.risk - e.risk)),
           sum(CASE WHEN s.tier = e.tier THEN 0 ELSE 1 END),
           sum(CASE WHEN e.tier = 'low' THEN 0 ELSE 1 END)
    FROM scored s JOIN read_csv('{scored}') e USING (change_id)""").fetchone()
print(json.dumps(dict(n=n, drisk=drisk, tiers=tiers, above_low=moved)))
"#;

#[test]
fn duckdb_scores_new_changes_against_a_history_with_other_tiers_as_score_does() {
    let dir = tempdir();
    let root = repo_root();
    let data = |f: &str| root.join("data").join(f).display().to_string();
    let scored = dir.path().join("scored.csv").display().to_string();
    let score = [
        "score", "--quiet", "--tiers", "20,80,95", "--output", &scored,
    ];
    run(&root, score).success();
    let query = dir.path().join("q.sql").display().to_string();
    let union = "(SELECT * FROM history UNION SELECT * FROM new_changes)";
    let sql = [
        "sql",
        "--raw",
        "--incidents",
        "incidents",
        "--tiers",
        "20,80,95",
        "--from",
        union,
        "--output",
        &query,
    ];
    run(&root, sql).success();
    let args = [
        query,
        data("changes.csv"),
        data("new_changes.csv"),
        data("incidents.csv"),
        scored,
    ];
    let stdout = duckdb(dir.path(), DUCKDB_AGAINST_SCORED, args);
    let got: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(got["n"].as_u64(), Some(500), "{got}");
    assert!(got["drisk"].as_f64().unwrap() <= 1e-14, "{got}");
    assert_eq!(got["tiers"].as_u64(), Some(0), "{got}");
    // A medium cut at the 20th percentile (the model's own: the 50th, which leaves 220 of
    // the 500 above low in data/scored.csv) puts more of them above low.
    assert!(got["above_low"].as_u64().unwrap() > 300, "{got}");
}

/// Runs each query file given in DuckDB and prints, per file, the error it stops with
/// (or `ran`).
const DUCKDB_ERRORS: &str = r#"
import sys
import duckdb

for path in sys.argv[1:]:
    try:
        duckdb.connect().execute(open(path).read()).fetchall()
        print("ran")
    except duckdb.Error as e:
        print(str(e).splitlines()[0])
"#;

#[test]
fn the_raw_query_stops_on_input_changerisk_refuses() {
    let dir = tempdir();
    let root = repo_root();
    let changes = format!("read_csv('{}')", root.join("data/changes.csv").display());
    let incidents = format!("read_csv('{}')", root.join("data/incidents.csv").display());
    let spoil = |column: &str, with: &str, of: &str, row: &str| {
        format!("(SELECT * REPLACE (CASE WHEN {row} THEN {with} ELSE CAST({column} AS VARCHAR) END AS {column}) FROM {of})")
    };
    let cases = [
        (
            format!("(SELECT * FROM {changes} UNION ALL SELECT * FROM {changes} LIMIT 15001)"),
            incidents.clone(),
            "the changes (--from): a change_id appears twice",
        ),
        (
            spoil(
                "ai_involvement",
                "'AI-agent'",
                &changes,
                "change_id = 'chg-000005'",
            ),
            incidents.clone(),
            "the changes (--from): ai_involvement holds a value other than none, assisted, agent",
        ),
        (
            changes.clone(),
            spoil("severity", "''", &incidents, "incident_id = 'inc-00010'"),
            "the incidents (--incidents): a severity is not 1..5 or sev1..sev5",
        ),
        (
            changes.clone(),
            spoil(
                "incident_id",
                "NULL",
                &incidents,
                "incident_id = 'inc-00010'",
            ),
            "the incidents (--incidents): an incident has no incident_id",
        ),
        (
            spoil("customer_facing", "'maybe'", &changes, "change_id = 'chg-000005'"),
            incidents.clone(),
            "the changes (--from): customer_facing holds a value other than true/false, 1/0 or yes/no",
        ),
        (
            spoil("services_affected", "NULL", &changes, "change_id = 'chg-000005'"),
            incidents.clone(),
            "the changes (--from): a change has no services_affected (required)",
        ),
        (changes.clone(), incidents.clone(), "ran"),
    ];
    let mut files = Vec::new();
    for (k, (from, incidents, _)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("q{k}.sql"));
        let out = file.display().to_string();
        let args = [
            "sql",
            "--raw",
            "--from",
            from,
            "--incidents",
            incidents,
            "--output",
            &out,
        ];
        run(&root, args).success();
        files.push(file);
    }
    let stdout = duckdb(dir.path(), DUCKDB_ERRORS, &files);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    for (line, (_, _, expected)) in lines.iter().zip(&cases) {
        assert!(
            line.contains(expected),
            "expected {expected:?}, got {line:?}"
        );
    }
}

#[test]
fn sql_writes_its_query_whole_and_refuses_bad_usage() {
    let dir = tempdir();
    let model = shipped_model().display().to_string();
    let printed = run(dir.path(), ["sql", "--model", &model]).success();
    assert!(printed
        .stdout
        .starts_with("-- changerisk logistic model as SQL (duckdb)"));
    assert!(printed.stdout.contains("FROM changes\n"));
    run(dir.path(), ["sql", "--model", &model, "--output", "q.sql"]).success();
    let written = std::fs::read_to_string(dir.path().join("q.sql")).unwrap();
    assert_eq!(written.trim_end(), printed.stdout.trim_end());
    let spark = run(dir.path(), ["sql", "--model", &model, "--dialect", "spark"]).success();
    assert!(spark.stdout.contains("`review_status`"));
    assert!(!spark.stdout.contains("\"review_status\""));
    // Other tiers: only the cut points change.
    let tiers = run(
        dir.path(),
        ["sql", "--model", &model, "--tiers", "80,95,99.5"],
    )
    .success();
    assert!(
        tiers.stdout != printed.stdout,
        "--tiers changes the cut points"
    );

    std::fs::copy(shipped_model(), dir.path().join("m.json")).unwrap();
    let over_model = run(
        dir.path(),
        ["sql", "--model", "m.json", "--output", "m.json"],
    );
    assert_eq!(over_model.code, Some(2), "{}", over_model.stderr);
    assert!(over_model.stderr.contains("would write over m.json"));
    let empty_from = run(dir.path(), ["sql", "--model", "m.json", "--from", " "]);
    assert_eq!(empty_from.code, Some(2));
    assert!(empty_from.stderr.contains("--from is empty"));
    let bad_tiers = run(
        dir.path(),
        ["sql", "--model", "m.json", "--tiers", "90,50,99"],
    );
    assert_eq!(bad_tiers.code, Some(2));
    let raw_alone = run(dir.path(), ["sql", "--model", "m.json", "--raw"]);
    assert_eq!(raw_alone.code, Some(2));
    assert!(
        raw_alone.stderr.contains("--raw needs --incidents"),
        "{}",
        raw_alone.stderr
    );
    let incidents_alone = run(dir.path(), ["sql", "--model", "m.json", "--incidents", "i"]);
    assert_eq!(incidents_alone.code, Some(2), "--incidents without --raw");
    let no_model = run(dir.path(), ["sql", "--model", "none.json"]);
    assert_eq!(no_model.code, Some(2));
    assert!(no_model.stderr.contains("none.json"));
    std::fs::write(dir.path().join("bad.json"), "{\"format\": \"other\"}").unwrap();
    let not_a_model = run(
        dir.path(),
        ["sql", "--model", "bad.json", "--output", "q2.sql"],
    );
    assert_eq!(not_a_model.code, Some(2));
    assert!(
        !dir.path().join("q2.sql").exists(),
        "nothing written on an error"
    );
}

#[test]
fn an_input_named_like_an_export_column_is_exported_and_read_by_its_prefixed_name() {
    // A label config whose own columns are called `risk` and `tier`, `Label` and
    // `contrib_lines` (names SQL engines and the notebook would take for the export's own)
    // and whose service column is also a categorical feature: the export renames them
    // (`input_risk`, ..., `input_service`) beside its own `risk`, `tier` and `service`,
    // and the query over the export reads them by those names. So are the pass-through
    // columns `Risk` and `FEATURE_y`.
    let dir = tempdir();
    let mut text = String::from(
        "id,when,bad,service,risk,tier,Label,contrib_lines,Risk,FEATURE_y,policy,Policy\n",
    );
    let mut state: u64 = 5;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    for i in 0..1500 {
        let (service, risk, tier) = (next() % 4, next() % 100, ["a", "b", "c"][next() % 3]);
        let bad = u8::from(
            risk > 70 || (service == 1 && next() % 4 == 0) || tier == "c" && next() % 5 == 0,
        );
        text.push_str(&format!(
            "c{i},{},{bad},s{service},{risk},{tier},{},{},{},{},p{},q{}\n",
            1_600_000_000 + i * 600,
            next() % 3,
            next() % 50,
            next() % 7,
            next() % 9,
            next() % 4,
            next() % 4
        ));
    }
    std::fs::write(dir.path().join("named.csv"), text).unwrap();
    std::fs::write(
        dir.path().join("named.toml"),
        "[columns]\nid = \"id\"\ntimestamp = \"when\"\ntimestamp_format = \"unix\"\nlabel = \"bad\"\n\
         service = \"service\"\n\n[features]\nnumeric = [\"risk\", \"Label\", \"contrib_lines\"]\ncategorical = [\"service\", \"tier\"]\n",
    )
    .unwrap();
    train_config(
        dir.path(),
        "named.toml",
        "named.csv",
        &["--quiet", "--learner", "blend"],
    )
    .success();
    let model = dir.path().join("m.json");
    assert_duckdb_scores_as_changerisk(
        dir.path(),
        &model,
        &["--changes", "named.csv"],
        Reads::Export("parquet"),
    );
    let exported = crate::util::read_table(&dir.path().join("export_score/changes.parquet"));
    let names: Vec<&str> = exported
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    for name in [
        "service",
        "input_service",
        "risk",
        "input_risk",
        "tier",
        "input_tier",
        "input_Label",
        "input_contrib_lines",
        "input_input_Risk",
        "input_FEATURE_y",
        "input_policy",
        "input_input_Policy",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == name).count(),
            1,
            "{name} in {names:?}"
        );
    }
    // No two names alike but for case (SQL engines would take them for one), and every
    // `contrib_` column a feature's (the notebook sums them).
    let mut lower: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), names.len(), "{names:?}");
    let model_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let contributions = names.iter().filter(|n| n.starts_with("contrib_")).count();
    assert_eq!(
        contributions,
        model_json["features"].as_array().unwrap().len()
    );
    // A config naming two columns alike but for case: `sql` refuses it.
    std::fs::write(
        dir.path().join("cased.toml"),
        "[columns]\nid = \"id\"\ntimestamp = \"when\"\ntimestamp_format = \"unix\"\nlabel = \"bad\"\n\n\
         [features]\nnumeric = [\"risk\", \"Risk\"]\n",
    )
    .unwrap();
    train_config(
        dir.path(),
        "cased.toml",
        "named.csv",
        &["--quiet", "--learner", "logistic"],
    )
    .success();
    run(dir.path(), ["sql", "--model", "m.json"])
        .bad_input(&["\"risk\" and \"Risk\"", "differ only in case"]);
}
