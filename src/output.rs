//! Writing results: every file is written to a temporary sibling and renamed into
//! place, so a crash or a full disk never leaves a half-written output or model.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `path` made absolute with links resolved, whether or not the file exists yet (its
/// directory must); `None` when that cannot be told.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    // A link to a file not there yet names the file it would create.
    let target = dangling_target(path);
    let path = target.as_deref().unwrap_or(path);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(dir).ok()?.join(path.file_name()?))
}

/// True when `a` and `b` name the same file (`./data/x.csv`, `data/x.csv` and its
/// absolute path do), whether or not it exists yet.
pub fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((canonical(a), canonical(b)), (Some(x), Some(y)) if x == y)
}

/// Refuses to write the output `flag` (`path`) over one of the files the run reads
/// (`inputs`: what each is, and where), which would destroy an input, silently; or
/// inside one that is a partitioned table (a directory), whose parts the output would
/// join.
pub fn check_not_an_input(flag: &str, path: &Path, inputs: &[(&str, Option<&Path>)]) -> Result<()> {
    // (An output not there yet, through directories not there yet and `..`: the place
    // it will have.)
    let out = canonical(path).or_else(|| Some(resolved(path)));
    for (what, input) in inputs {
        let Some(input) = input else { continue };
        if canonical(input).is_some() && canonical(input) == out {
            return Err(Error::Usage(format!(
                "{flag} would write over {}, the {what} this run reads; write elsewhere",
                path.display()
            )));
        }
        if crate::dataset::is_partitioned(input) && resolved(path).starts_with(resolved(input)) {
            return Err(Error::Usage(format!(
                "{flag} {} is inside the {} ({}), a partitioned table: the output would join its parts; write elsewhere",
                path.display(),
                what.trim_end_matches(" file"),
                input.display()
            )));
        }
    }
    Ok(())
}

/// `path` made absolute through its nearest existing ancestor, links resolved there (the
/// place a path that does not exist yet will have).
pub fn resolved(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut here = path;
    loop {
        if let Ok(mut found) = std::fs::canonicalize(here) {
            // What does not exist yet will be made as plain directories, so `..` below
            // it is the directory above, lexically.
            for name in rest.iter().rev() {
                match std::path::Path::new(name).components().next() {
                    Some(std::path::Component::ParentDir) => {
                        found.pop();
                    }
                    Some(std::path::Component::CurDir) | None => {}
                    _ => found.push(name),
                }
            }
            return found;
        }
        // The last component, `..` and `.` included (which `file_name` skips).
        match (here.parent(), here.components().next_back()) {
            (Some(parent), Some(last)) => {
                rest.push(last.as_os_str().to_os_string());
                here = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuses one stream (standard input, a pipe) named for two inputs: it can be read only
/// once, so the second would read nothing, or what the first was meant to (`-` is
/// standard input).
pub fn check_one_reader(inputs: &[(&str, Option<&Path>)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut streams: Vec<((u64, u64), &str, &Path)> = Vec::new();
    for &(what, path) in inputs {
        let Some(path) = path else { continue };
        let named = if path == Path::new("-") {
            Path::new("/dev/stdin")
        } else {
            path
        };
        let Ok(meta) = std::fs::metadata(named) else {
            continue;
        };
        if meta.is_file() || meta.is_dir() {
            continue;
        }
        let key = (meta.dev(), meta.ino());
        if let Some((_, first, first_path)) = streams.iter().find(|s| s.0 == key) {
            return Err(Error::Usage(format!(
                "the {first} ({}) and the {what} ({}) are one stream, which can be read only once: give one of them a file",
                first_path.display(),
                path.display()
            )));
        }
        streams.push((key, what, path));
    }
    Ok(())
}

/// The marker file a complete directory of output parts holds (Hadoop's and Spark's name
/// for it): written last, so a reader can tell a finished output.
pub const DONE_MARKER: &str = "_SUCCESS";

/// A directory of output parts, written in full under a temporary name beside its
/// destination and moved there whole by [`StagedDir::commit`]; dropped uncommitted, it is
/// removed. The destination may be missing, an empty directory or a complete earlier
/// output (one holding [`DONE_MARKER`]), which the new one replaces.
pub struct StagedDir {
    staging: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Checks `path` and makes the staging directory beside it. A link to a directory is
    /// followed (the directory it names is replaced); staging directories that runs
    /// stopped before their end left beside it are removed. `inputs` (what each is, and
    /// where) are refused inside it, as replacing it would remove them.
    pub fn new(path: &Path, inputs: &[(&str, Option<&Path>)]) -> Result<StagedDir> {
        if path.file_name().is_none() {
            return Err(Error::Usage(format!(
                "--output {} names no directory of its own; name the directory the scored parts go to (such as scored/)",
                path.display()
            )));
        }
        let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if linked && !path.exists() {
            return Err(Error::Usage(format!(
                "--output {} is a link to nothing; name a directory for the scored parts",
                path.display()
            )));
        }
        // The place itself (a link followed, `..` through directories not made yet
        // taken), so that the checks below see what is there.
        let (given, out) = (path, resolved(path));
        let path = out.as_path();
        for (what, input) in inputs {
            if let Some(input) = input.filter(|i| resolved(i).starts_with(&out)) {
                return Err(Error::Usage(format!(
                    "--output {} holds the {what} ({}), and the scored parts replace it whole; write elsewhere",
                    given.display(),
                    input.display()
                )));
            }
        }
        if path.exists() && !path.is_dir() {
            return Err(Error::Usage(format!(
                "{} is a file; the scored parts of a partitioned table go to a directory: name one (a new one, or an earlier output to replace)",
                given.display()
            )));
        }
        if path.is_dir() {
            let mut entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
            let empty = entries.next().is_none();
            if !empty && !path.join(DONE_MARKER).is_file() {
                return Err(Error::Usage(format!(
                    "{} is a directory that holds files and no {DONE_MARKER} marker, so it is no complete earlier output; name a new or empty directory (changerisk replaces only those and its earlier outputs)",
                    given.display()
                )));
            }
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_dir(parent)?;
        }
        let staging = sibling(path, "partial");
        remove_abandoned(&staging);
        remove_abandoned(&sibling(path, "old"));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        }
        std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
        Ok(StagedDir {
            staging,
            path: path.to_path_buf(),
            committed: false,
        })
    }

    /// Where the part `relative` is written while staged (its directories made).
    pub fn part(&self, relative: &Path) -> Result<PathBuf> {
        let path = self.staging.join(relative);
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        Ok(path)
    }

    /// Writes the marker and moves the directory into place, replacing what was there:
    /// an earlier output is first moved aside, so at every moment one complete output
    /// is in place or beside it.
    pub fn commit(mut self) -> Result<()> {
        let marker = self.staging.join(DONE_MARKER);
        File::create(&marker)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(&marker, e))?;
        // The parts' names and the marker on disk before the directory is moved.
        File::open(&self.staging)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(&self.staging, e))?;
        let aside = self.path.exists().then(|| sibling(&self.path, "old"));
        if let Some(aside) = &aside {
            std::fs::rename(&self.path, aside).map_err(|e| Error::io(&self.path, e))?;
        }
        if let Err(e) = std::fs::rename(&self.staging, &self.path) {
            if let Some(aside) = &aside {
                let _ = std::fs::rename(aside, &self.path);
            }
            return Err(Error::io(&self.path, e));
        }
        self.committed = true;
        // The new output is in place: an earlier one that cannot be removed now is left
        // for the next run here to remove ([`remove_abandoned`]), not an error.
        if let Some(aside) = aside {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(())
    }
}

/// How old a staged file or directory of a process that is gone must be before another
/// run removes it: a run in another process namespace (a container sharing the volume),
/// whose process id this one cannot see, is not cut short.
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Removes the staged files or directories beside `staging` (same name, another process
/// id) whose process is gone and which have not changed for [`ABANDONED_AFTER`]: what a
/// run killed before its end left behind. Best effort; only where `/proc` tells which
/// processes run.
fn remove_abandoned(staging: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let (Some(dir), Some(name)) = (staging.parent(), staging.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let Some(prefix) = name.strip_suffix(&std::process::id().to_string()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name();
        let other = other.to_string_lossy();
        let Some(pid) = other.strip_prefix(prefix) else {
            continue;
        };
        let gone = pid.parse::<u32>().is_ok_and(|pid| {
            pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
        });
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= ABANDONED_AFTER);
        if gone && stale {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(path)
            } else {
                std::fs::remove_file(path)
            };
        }
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Writes `path` atomically: `write` fills a temporary file in the same directory,
/// which is flushed, synced and renamed over `path` only if `write` succeeds.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    stage(path, write)?.commit()
}

/// A file written in full under a temporary name beside its destination, not yet in
/// place: [`Staged::commit`] renames it there; dropped uncommitted, it is removed. Staging
/// every output of a run before committing any makes the set all-or-nothing.
pub struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    /// Put in place (or written in place: a device or a pipe), so nothing to remove.
    committed: bool,
}

impl Staged {
    /// Renames the staged file into place.
    pub fn commit(mut self) -> Result<()> {
        if !self.committed {
            std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, e))?;
            self.committed = true;
        }
        Ok(())
    }
}

/// Creates directory `dir` and its parents, naming a file that stands where one of
/// them should be ("File exists" alone would puzzle).
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| match dir.ancestors().find(|a| a.is_file()) {
        Some(f) => Error::io(
            dir,
            std::io::Error::other(format!("{} is a file, not a directory", f.display())),
        ),
        None => Error::io(dir, e),
    })
}

/// A hidden name beside `path` for this process: `.NAME.TAG-PID`. A name too long to
/// carry that (file names stop at 255 bytes) is cut, with a hash of the whole name so
/// two long names that share a beginning still get their own.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let short = if name.len() > 200 {
        let mut cut = 200;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        format!("{}~{:016x}", &name[..cut], hasher.finish())
    } else {
        name
    };
    path.with_file_name(format!(".{short}.{tag}-{}", std::process::id()))
}

/// Puts every staged file in place, or none. A file already there is first kept under a
/// second name (a hard link, else a copy), then replaced by one atomic rename, so a
/// reader never finds it missing; when any rename fails (a file another user owns in a
/// sticky directory, an immutable file), the files put in place so far are renamed back
/// from their kept copies (or removed, where there was none), so the destination keeps
/// the whole previous set.
pub fn commit_all(staged: Vec<Staged>) -> Result<()> {
    let mut done: Vec<(Staged, Option<PathBuf>)> = Vec::new();
    let mut failure = None;
    for mut file in staged {
        if file.committed {
            continue;
        }
        let kept = if file.path.is_file() {
            let old = sibling(&file.path, "old");
            let _ = std::fs::remove_file(&old);
            let copied = std::fs::hard_link(&file.path, &old)
                .or_else(|_| std::fs::copy(&file.path, &old).map(|_| ()));
            if let Err(e) = copied {
                failure = Some(Error::io(&file.path, e));
                break;
            }
            Some(old)
        } else {
            None
        };
        match std::fs::rename(&file.tmp, &file.path) {
            Ok(()) => {
                file.committed = true;
                done.push((file, kept));
            }
            Err(e) => {
                if let Some(old) = kept {
                    let _ = std::fs::remove_file(old);
                }
                failure = Some(Error::io(&file.path, e));
                break;
            }
        }
    }
    let Some(error) = failure else {
        for old in done.into_iter().filter_map(|(_, kept)| kept) {
            let _ = std::fs::remove_file(old);
        }
        return Ok(());
    };
    // Back out, newest first; a file that cannot be put back is named in the error.
    let mut lost = Vec::new();
    for (file, kept) in done.into_iter().rev() {
        let restored = match &kept {
            Some(old) => std::fs::rename(old, &file.path),
            None => std::fs::remove_file(&file.path),
        };
        if restored.is_err() {
            lost.push(match kept {
                Some(old) => format!(
                    "{} (its earlier content is in {})",
                    file.path.display(),
                    old.display()
                ),
                None => format!("{} (new)", file.path.display()),
            });
        }
    }
    if lost.is_empty() {
        Err(error)
    } else {
        Err(Error::Data(format!(
            "{error}; the files written before it could not all be taken back: {}",
            lost.join(", ")
        )))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Whether `path` names one of this process's open descriptors (`/dev/stdout`,
/// `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`, `/proc/PID/fd/N`), which may be a
/// regular file the shell opened for it; not any other name under `/dev` (such as a file
/// in `/dev/shm`).
pub fn names_a_descriptor(path: &Path) -> bool {
    let parts: Vec<&std::ffi::OsStr> = path.iter().collect();
    match parts.as_slice() {
        [root, dev, name, ..] if *root == "/" && *dev == "dev" => {
            *name == "stdout" || *name == "stderr" || *name == "fd"
        }
        [root, proc, who, fd, ..] if *root == "/" && *proc == "proc" && *fd == "fd" => {
            let who = who.to_string_lossy();
            who == "self" || who == "thread-self" || who.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// Whether an output at `path` is written in place instead of replaced by a renamed
/// temporary file: a device or a pipe (`/dev/null`, a FIFO; renaming over one would
/// replace it, as root `/dev/null` itself), or a name of one of this process's
/// descriptors, which may be a file the shell opened for it.
pub fn written_in_place(path: &Path) -> bool {
    (names_a_descriptor(path) && path.exists())
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `path`'s content to a temporary sibling (flushed and synced); see [`Staged`].
pub fn stage<F>(given: &Path, write: F) -> Result<Staged>
where
    F: FnOnce(&mut BufWriter<File>) -> Result<()>,
{
    let special = written_in_place(given);
    // A descriptor's name is appended to: the shell opened it (`>` truncated it, `>>`
    // keeps what it held).
    let pseudo = special && names_a_descriptor(given);
    // A link is followed: the file it names is replaced, not the link.
    let linked = std::fs::symlink_metadata(given).is_ok_and(|m| m.file_type().is_symlink());
    let target = if linked && !special {
        std::fs::canonicalize(given)
            .ok()
            .or_else(|| dangling_target(given))
    } else {
        None
    };
    if special || (linked && target.is_none()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .append(pseudo)
            .truncate(!pseudo)
            .open(given)
            .map_err(|e| Error::io(given, e))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        write(&mut writer)?;
        writer.flush().map_err(|e| Error::io(given, e))?;
        return Ok(Staged {
            tmp: given.to_path_buf(),
            path: given.to_path_buf(),
            committed: true,
        });
    }
    let path = target.as_deref().unwrap_or(given);
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_dir(&dir)?;
    // Found now, not when renaming: a set of files must fail before any is in place.
    if path.is_dir() {
        return Err(Error::io(
            path,
            std::io::Error::other("a directory is there, where the file would go"),
        ));
    }
    let tmp = sibling(path, "tmp");
    remove_abandoned(&tmp);
    // Named as given in errors: the temporary name would only puzzle.
    let file = File::create(&tmp).map_err(|e| Error::io(path, e))?;
    // A file replaced keeps its permission bits (a 0640 report stays 0640); not
    // set-user-id and the like, on a file this process now owns.
    if let Ok(earlier) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        let mode = earlier.permissions().mode() & 0o777;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    }
    // From here on, an error drops `staged`, which removes the temporary file.
    let staged = Staged {
        tmp,
        path: path.to_path_buf(),
        committed: false,
    };
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    write(&mut writer)?;
    writer.flush().map_err(|e| Error::io(path, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| Error::io(path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(path, e))?;
    Ok(staged)
}

/// Where a link whose file does not exist yet points (through a chain of links), so
/// the file is created there; `None` for a loop or a chain of more than 40.
fn dangling_target(link: &Path) -> Option<PathBuf> {
    let mut path = link.to_path_buf();
    for _ in 0..40 {
        if !std::fs::symlink_metadata(&path)
            .ok()?
            .file_type()
            .is_symlink()
        {
            return None;
        }
        let next = std::fs::read_link(&path).ok()?;
        path = match path.parent() {
            Some(dir) if next.is_relative() => dir.join(next),
            _ => next,
        };
        if std::fs::symlink_metadata(&path).is_err() {
            return Some(path);
        }
    }
    None
}

/// CSV cells written exactly as polars' `CsvWriter` writes them with its defaults
/// (separator `,`, quote `"` only where necessary, `\n` line ends, empty nulls), so that
/// a table formatted here reads byte for byte like one written by [`crate::table::write_table`].
pub mod csv {
    /// Appends a string cell: an empty string is `""` (an empty cell is a null); a cell
    /// holding a separator, CR or LF is quoted; quotes are doubled (and then quoted).
    pub fn push_str(buf: &mut Vec<u8>, s: &str) {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            buf.extend_from_slice(b"\"\"");
            return;
        }
        let needs_quote = memchr::memchr3(b',', b'\n', b'\r', bytes).is_some();
        let has_quote = memchr::memchr(b'"', bytes).is_some();
        if !needs_quote && !has_quote {
            buf.extend_from_slice(bytes);
            return;
        }
        buf.push(b'"');
        for part in s.split('"').enumerate() {
            if part.0 > 0 {
                buf.extend_from_slice(b"\"\"");
            }
            buf.extend_from_slice(part.1.as_bytes());
        }
        buf.push(b'"');
    }

    /// Appends an optional string cell (a null is an empty cell).
    pub fn push_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
        if let Some(s) = s {
            push_str(buf, s);
        }
    }

    /// Appends a float the way polars writes one without a set precision (shortest
    /// round-trip digits).
    pub fn push_f64(buf: &mut Vec<u8>, v: f64) {
        let mut b = zmij::Buffer::new();
        buf.extend_from_slice(b.format(v).as_bytes());
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn cells_match_polars_quoting() {
            use polars::prelude::*;
            let texts = [
                "plain",
                "",
                "a,b",
                "say \"hi\"",
                "line\nbreak",
                "cr\rhere",
                " spaced ",
                "\"",
            ];
            let mut df = df!(
                "s" => texts.iter().map(|t| Some(*t)).chain([None]).collect::<Vec<_>>(),
                "f" => [0.1, 1.0, 1e-7, 0.437703771939285, 123456789.5, 1e22, 0.0, -2.5, 3.0]
            )
            .unwrap();
            let mut polars = Vec::new();
            CsvWriter::new(&mut polars).finish(&mut df).unwrap();
            let mut ours = b"s,f\n".to_vec();
            let floats = df.column("f").unwrap().f64().unwrap().clone();
            for (i, f) in floats.into_no_null_iter().enumerate() {
                push_opt_str(&mut ours, texts.get(i).copied());
                ours.push(b',');
                push_f64(&mut ours, f);
                ours.push(b'\n');
            }
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(polars).unwrap()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_text(path: &Path, text: &str) -> Staged {
        stage(path, |w| {
            w.write_all(text.as_bytes()).map_err(|e| Error::io(path, e))
        })
        .unwrap()
    }

    #[test]
    fn descriptor_names_are_known_and_other_device_paths_are_not() {
        for p in [
            "/dev/stdout",
            "/dev/stderr",
            "/dev/fd/3",
            "/proc/self/fd/1",
            "/proc/4242/fd/1",
        ] {
            assert!(names_a_descriptor(Path::new(p)), "{p}");
        }
        for p in [
            "/dev/shm/out.csv",
            "/dev/null",
            "/proc/self/status",
            "/proc/x1/fd/1",
            "dev/stdout",
            "/tmp/fd/1",
        ] {
            assert!(!names_a_descriptor(Path::new(p)), "{p}");
        }
    }

    /// What `dir` holds: (name, content or "<dir>"), sorted.
    fn listing(dir: &Path) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let content = std::fs::read_to_string(e.path()).unwrap_or("<dir>".into());
                (e.file_name().to_string_lossy().into_owned(), content)
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_set_of_files_goes_in_whole_or_leaves_the_previous_set() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("a.csv"),
            dir.path().join("b.csv"),
            dir.path().join("c.csv"),
        );
        std::fs::write(&a, "old a").unwrap();
        std::fs::write(&c, "old c").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        // `b` cannot be put in place: a directory took its name after it was staged.
        let staged = vec![
            stage_text(&a, "new a"),
            stage_text(&c, "new c"),
            stage_text(&b, "new b"),
        ];
        std::fs::create_dir(&b).unwrap();
        let e = commit_all(staged).unwrap_err().to_string();
        assert!(e.contains("b.csv"), "{e}");
        let before = vec![
            ("a.csv".to_string(), "old a".to_string()),
            ("b.csv".to_string(), "<dir>".to_string()),
            ("c.csv".to_string(), "old c".to_string()),
        ];
        assert_eq!(listing(dir.path()), before);
        // A new file the failed set had added is taken out again.
        std::fs::remove_file(&c).unwrap();
        std::fs::remove_dir(&b).unwrap();
        let staged = vec![stage_text(&c, "new c"), stage_text(&b, "new b")];
        std::fs::create_dir(&b).unwrap();
        assert!(commit_all(staged).is_err());
        assert!(!c.exists());
        // Once nothing is in the way, every file is new and nothing else is left.
        std::fs::remove_dir(&b).unwrap();
        let staged = vec![stage_text(&a, "new a"), stage_text(&b, "new b")];
        commit_all(staged).unwrap();
        let after = vec![
            ("a.csv".to_string(), "new a".to_string()),
            ("b.csv".to_string(), "new b".to_string()),
        ];
        assert_eq!(listing(dir.path()), after);
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "the replaced file keeps its permissions");
    }
}
