//! Outputs are written atomically: a failed run leaves no output, no half-written file
//! and no temporary file behind, and an earlier output stays as it was.

use std::path::Path;

use crate::util::*;

/// Small changes with one misspelled category, so that `score` fails on input.
fn write_bad_changes(dir: &Path) {
    let mut rows = small_changes();
    rows[1].review_status = "aproved".into();
    write_changes(&dir.join("changes.csv"), &rows);
}

#[test]
fn failed_score_leaves_no_output_and_no_temporary_file() {
    let tmp = tempdir();
    write_bad_changes(tmp.path());
    let out_dir = tmp.path().join("out");
    std::fs::create_dir(&out_dir).expect("created");
    for ext in ["csv", "parquet", "arrow", "jsonl"] {
        let output = out_dir.join(format!("scored.{ext}"));
        score(tmp.path(), Path::new("changes.csv"), None, &output).bad_input(&["aproved"]);
        assert!(!output.exists(), "{} exists", output.display());
    }
    assert_eq!(file_names(&out_dir), Vec::<String>::new());
    assert_eq!(file_names(tmp.path()), ["changes.csv", "out"]);
}

#[test]
fn failed_score_keeps_an_earlier_output_unchanged() {
    let tmp = tempdir();
    let output = tmp.path().join("scored.csv");
    std::fs::write(&output, "change_id,risk\nearlier,0.5\n").expect("written");
    write_bad_changes(tmp.path());
    score(tmp.path(), Path::new("changes.csv"), None, &output).bad_input(&["aproved"]);
    assert_eq!(
        std::fs::read_to_string(&output).expect("still there"),
        "change_id,risk\nearlier,0.5\n"
    );
    assert_eq!(file_names(tmp.path()), ["changes.csv", "scored.csv"]);
}

#[test]
fn output_that_cannot_be_placed_leaves_no_temporary_file() {
    // The output path is an existing directory: writing succeeds into the temporary
    // file, the final rename fails, and the temporary file must be removed.
    let tmp = tempdir();
    write_changes(&tmp.path().join("changes.csv"), &small_changes());
    let output = tmp.path().join("scored.csv");
    std::fs::create_dir(&output).expect("created");
    let run = score(tmp.path(), Path::new("changes.csv"), None, &output);
    run.no_panic();
    assert_ne!(run.code, Some(0), "scoring into a directory succeeded");
    assert!(run.stderr.contains("scored.csv"), "stderr:\n{}", run.stderr);
    assert!(output.is_dir());
    assert_eq!(file_names(tmp.path()), ["changes.csv", "scored.csv"]);
    assert_eq!(file_names(&output), Vec::<String>::new());
}

#[test]
fn failed_train_leaves_no_model() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_bad_changes(dir);
    write_incidents(&dir.join("incidents.csv"), &[]);
    train_here(dir, "models/model.json", &[]).bad_input(&["changes.csv", "aproved"]);
    assert_eq!(file_names(dir), ["changes.csv", "incidents.csv"]);
}

/// An output path that is one of the run's inputs is refused before anything is read or
/// written: the input would be lost (a history overwritten by scores, a changes file by
/// a model).
#[test]
fn an_output_over_an_input_is_refused_and_the_input_kept() {
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    write_incidents(
        &dir.join("incidents.csv"),
        &[IncidentRow::new("i1", &at_hours(10.5), "checkout").caused_by("c1")],
    );
    let before = |name: &str| std::fs::read(dir.join(name)).expect("readable");
    let (changes, incidents) = (before("changes.csv"), before("incidents.csv"));
    // Through another spelling of the same path, too.
    for output in ["changes.csv", "./incidents.csv"] {
        score(
            dir,
            Path::new("changes.csv"),
            Some((Path::new("incidents.csv"), Path::new("changes.csv"))),
            Path::new(output),
        )
        .bad_input(&["--output", output, "this run reads"]);
    }
    train_here(dir, "incidents.csv", &[]).bad_input(&["--model", "incidents file"]);
    assert!(before("changes.csv") == changes && before("incidents.csv") == incidents);
    assert_eq!(file_names(dir), ["changes.csv", "incidents.csv"]);
}

/// An output that is a device or a link is written through, not replaced: renaming a
/// temporary file over `/dev/null` replaced the device itself when run as root (and then
/// every later `2>/dev/null` wrote into a plain file), and a link became a plain file.
#[test]
fn outputs_through_a_device_or_a_link_keep_it() {
    use std::os::unix::fs::FileTypeExt;
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    std::fs::write(dir.join("real.csv"), "earlier\n").expect("written");
    std::os::unix::fs::symlink("real.csv", dir.join("link.csv")).expect("linked");
    let link = dir.join("link.csv");
    score(dir, Path::new("changes.csv"), None, &link).success();
    assert!(std::fs::symlink_metadata(&link)
        .expect("there")
        .file_type()
        .is_symlink());
    assert_eq!(scored(&dir.join("real.csv")).len(), 6);
    // A link to a file not there yet (a chain of two, the last relative to its own
    // directory) creates that file.
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink("sub/hop.csv", dir.join("new.csv")).expect("linked");
    std::os::unix::fs::symlink("made.csv", dir.join("sub/hop.csv")).expect("linked");
    score(dir, Path::new("changes.csv"), None, &dir.join("new.csv")).success();
    assert_eq!(scored(&dir.join("sub/made.csv")).len(), 6);
    assert!(std::fs::symlink_metadata(dir.join("new.csv"))
        .expect("there")
        .file_type()
        .is_symlink());
    for name in ["new.csv", "sub/hop.csv", "sub/made.csv"] {
        std::fs::remove_file(dir.join(name)).expect("removed");
    }
    std::fs::remove_dir(dir.join("sub")).expect("removed");
    // A report (no extension is checked) to /dev/null.
    let dev_null = Path::new("/dev/null");
    let before = std::fs::metadata(dev_null).expect("/dev/null").file_type();
    if before.is_char_device() {
        run(&repo_root(), ["report", "--quiet", "--output", "/dev/null"]).success();
        // A table output without an extension that is a device or a pipe is CSV.
        score(dir, Path::new("changes.csv"), None, dev_null).success();
        assert!(std::fs::metadata(dev_null)
            .expect("/dev/null")
            .file_type()
            .is_char_device());
    }
    let fifo = dir.join("out");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).expect("read from the pipe"))
    };
    score(dir, Path::new("changes.csv"), None, &fifo).success();
    let piped = reader.join().unwrap();
    assert!(
        piped.starts_with("change_id,risk,tier,reasons,policy"),
        "{piped}"
    );
    assert_eq!(piped.lines().count(), 1 + small_changes().len());
    std::fs::remove_file(&fifo).unwrap();
    // `--output /dev/stdout` with stdout a file (`>> out.csv`): CSV, appended.
    std::fs::write(dir.join("out.csv"), "earlier\n").unwrap();
    let appended = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("out.csv"))
        .unwrap();
    let mut cmd = score_command(dir, "/dev/stdout");
    cmd.stdout(appended);
    assert!(cmd.status().expect("runs").success());
    let text = std::fs::read_to_string(dir.join("out.csv")).unwrap();
    assert!(
        text.starts_with("earlier\nchange_id,risk,tier,reasons,policy\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 2 + small_changes().len());
    std::fs::remove_file(dir.join("out.csv")).unwrap();
    // A plain file without an extension is still refused: its format is unknown.
    score(dir, Path::new("changes.csv"), None, &dir.join("plain"))
        .bad_input(&["plain", "unsupported file extension"]);
    assert_eq!(file_names(dir), ["changes.csv", "link.csv", "real.csv"]);
}

/// `changerisk score` of `dir/changes.csv` with the shipped model and no history, to
/// `output`, as a plain process (its stdout and limits set by the caller).
fn score_command(dir: &Path, output: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("changerisk"));
    cmd.current_dir(dir).args([
        "score",
        "--model",
        shipped_model().to_str().unwrap(),
        "--changes",
        "changes.csv",
        "--no-history",
        "--output",
        output,
    ]);
    cmd
}

/// Outputs at the edges the operating system sets: a file size limit (`ulimit -f`) is
/// exit 2 with the earlier output kept, not a silent SIGXFSZ kill; a file name near the
/// 255-byte limit is written (its temporary name is shortened); a named pipe is read as
/// an input.
#[test]
fn file_size_limits_long_names_and_pipes_are_handled() {
    use std::os::unix::process::CommandExt;
    let tmp = tempdir();
    let dir = tmp.path();
    write_changes(&dir.join("changes.csv"), &small_changes());
    std::fs::write(dir.join("scored.csv"), "earlier\n").expect("written");
    let mut cmd = score_command(dir, "scored.csv");
    // SAFETY: setrlimit only changes the child's own limit, before it runs the binary.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200,
                rlim_max: 200,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = cmd.output().expect("the binary starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("scored.csv") && stderr.contains("File too large"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("scored.csv")).unwrap(),
        "earlier\n"
    );
    assert_eq!(file_names(dir), ["changes.csv", "scored.csv"]);

    let long = format!("{}.csv", "b".repeat(250));
    score(dir, Path::new("changes.csv"), None, &dir.join(&long)).success();
    assert_eq!(scored(&dir.join(&long)).len(), small_changes().len());
    std::fs::remove_file(dir.join(&long)).unwrap();

    let fifo = dir.join("piped.csv");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let text = std::fs::read(dir.join("changes.csv")).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, text).expect("written to the pipe"))
    };
    score(dir, &fifo, None, &dir.join("from_pipe.csv")).success();
    writer.join().unwrap();
    assert_eq!(
        scored(&dir.join("from_pipe.csv")).len(),
        small_changes().len()
    );
}
