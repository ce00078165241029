//! The changes to score and their history, read as `score` and `drift` read them: a
//! file whole ([`load`]), or a partitioned table a part at a time ([`Partitioned`]), each
//! change with its point-in-time history.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::config::Config;
use crate::dataset::Part;
use crate::error::{Error, Result};
use crate::features::scoring_gaps;
use crate::load::{
    check_parts_unique, identity_columns, load_events, load_incidents, parse_rows, Events,
    LoadedEvents, Read,
};
use crate::model::Model;
use crate::pipeline::{join_events, prepare_events, Indexed};
use crate::progress::Progress;
use crate::reasons::HistoryGiven;

/// The changes to score and their history, as given.
pub struct Inputs {
    pub changes: PathBuf,
    pub incidents: Option<PathBuf>,
    pub history: Option<PathBuf>,
    /// Use no default history files.
    pub no_history: bool,
}

impl From<crate::cli::BatchArgs> for Inputs {
    fn from(a: crate::cli::BatchArgs) -> Inputs {
        Inputs {
            changes: a.changes,
            incidents: a.incidents,
            history: a.history,
            no_history: a.no_history,
        }
    }
}

/// A partitioned table of changes, read a part at a time ([`crate::dataset`]): every
/// part's identity and time are read first and, with the history, make the timeline (and
/// its index) every part's history features count from; then [`Partitioned::each_part`]
/// reads the parts whole in turn. Only the timeline and two parts are held at once.
pub struct Partitioned {
    pub parts: Vec<Part>,
    /// The number of changes up to the end of each part.
    ends: Vec<usize>,
    /// The history and the changes, in time order.
    pub timeline: Events,
    /// The changes: their rows of `timeline`, in part order.
    rows: Vec<usize>,
    pub indexed: Indexed,
    pub incidents: crate::load::Incidents,
    /// Which history the history features counted ([`crate::reasons::Explainer::with_history`]).
    pub history_given: HistoryGiven,
}

/// One part of a [`Partitioned`] table, read and ready for the feature definitions.
pub struct ReadPart<'a> {
    pub part: &'a Part,
    /// Its changes' rows of the timeline.
    pub rows: &'a [usize],
    /// Their columns, history included.
    pub frame: crate::frame::Frame,
    /// Their own labels, when read with them.
    pub labels: Option<Vec<bool>>,
    pub passthrough: DataFrame,
    /// The pass-through columns the part's partition keys added.
    pub added: Vec<String>,
}

impl Partitioned {
    /// Reads the identity and time of every part of `changes` and the history files
    /// (`files`: incidents and past changes, from
    /// [`crate::commands::score::history_files`]), links the incidents and indexes the
    /// history.
    pub fn open(
        s: &Inputs,
        files: (Option<PathBuf>, Option<PathBuf>),
        model: &Model,
        read: Read,
        progress: &Progress,
    ) -> Result<Partitioned> {
        let changes = s.changes.as_path();
        let config = &model.config;
        check_history_given(s, &files, model, progress)?;
        let (incidents_path, history_path) = files;
        let parts = crate::dataset::parts(changes)?;
        progress.stage("reading the changes' identity and time, and the history");
        let (identity, (history, incidents)) = rayon::join(
            || -> Result<(Events, Vec<usize>)> {
                let identity = identity_columns(config);
                let (events, ends) = crate::dataset::read_parts(
                    &parts,
                    |part| {
                        // Changes read with their label column, which labels the
                        // timeline, are read whole.
                        let events = if read == Read::Labelled {
                            parse_rows(&part.read()?.0, &part.file(), config, read)?
                        } else {
                            let (table, _) = part.read_only(&identity)?;
                            parse_rows(&table, &part.file(), config, Read::Identity)?
                        };
                        Ok(events.events)
                    },
                    |all: &mut Events, one, _| {
                        all.append(&one);
                        Ok(())
                    },
                    Events::len,
                )?;
                let ids = &events.ids;
                check_parts_unique(changes, &parts, &ends, &config.columns.id, ids.len(), |i| {
                    ids.get(i)
                })?;
                Ok((events, ends))
            },
            || read_history(config, history_path.as_deref(), incidents_path.as_deref()),
        );
        let (events, ends) = identity?;
        let history = history?;
        let incidents = incidents?.unwrap_or_default();
        progress.stage("linking incidents and indexing the history");
        let (timeline, rows, conflicts) = join_events(history, events);
        warn_conflicts(conflicts, progress);
        let indexed = Indexed::new(&timeline, &incidents, model.labelling);
        if incidents_path.is_some() {
            progress.log(&format!("history {}", indexed.labels.summary.describe()));
        }
        Ok(Partitioned {
            parts,
            ends,
            timeline,
            rows,
            indexed,
            incidents,
            history_given: HistoryGiven::of(history_path.is_some(), incidents_path.is_some()),
        })
    }

    /// The timeline rows of part `k`'s changes.
    fn rows(&self, k: usize) -> &[usize] {
        &self.rows[if k == 0 { 0 } else { self.ends[k - 1] }..self.ends[k]]
    }

    /// The change ids of the timeline rows `rows` (a part's, [`ReadPart::rows`]).
    pub fn ids(&self, rows: &[usize]) -> Vec<&str> {
        rows.iter().map(|&r| self.timeline.ids.get(r)).collect()
    }

    /// Reads every part in turn (`read`: with the label column or without), adds its
    /// changes' history and hands it to `take`. The next part is read on a thread of its
    /// own while `take` has the one before, so at most two parts are held at once. Errors
    /// come in part order: `take`'s for a part before the next part's reading error.
    pub fn each_part(
        &self,
        model: &Model,
        read: Read,
        progress: &Progress,
        mut take: impl FnMut(ReadPart<'_>) -> Result<()>,
    ) -> Result<()> {
        let n = self.parts.len();
        std::thread::scope(|scope| {
            let mut next = (n > 0).then(|| self.read(0, model, read));
            for k in 0..n {
                progress.stage(&format!(
                    "part {} of {} ({})",
                    k + 1,
                    n,
                    self.parts[k].relative.display()
                ));
                let part = next.take().expect("read ahead")?;
                let ahead = (k + 1 < n).then(|| scope.spawn(move || self.read(k + 1, model, read)));
                take(part)?;
                next = ahead.map(|reading| {
                    reading
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                });
            }
            Ok(())
        })
    }

    /// Reads part `k` whole (`read`: with the label column or without) and adds its
    /// changes' history.
    fn read(&self, k: usize, model: &Model, read: Read) -> Result<ReadPart<'_>> {
        let part = &self.parts[k];
        let (table, added) = part.read()?;
        let file = part.file();
        let loaded = parse_rows(&table, &file, &model.config, read)?;
        drop(table);
        let rows = self.rows(k);
        if loaded
            .events
            .ids
            .iter()
            .ne(rows.iter().map(|&r| self.timeline.ids.get(r)))
        {
            return Err(Error::Data(format!(
                "{file}: changed while it was being read (its change ids differ from its first reading)"
            )));
        }
        let frame = self.indexed.prepare(&self.timeline, rows, loaded.frame);
        Ok(ReadPart {
            part,
            rows,
            frame,
            labels: loaded.events.label,
            passthrough: loaded.passthrough,
            added,
        })
    }
}

/// Refuses one stream named for two inputs, and warns when a model with per-service or
/// per-author history features is given no history.
fn check_history_given(
    s: &Inputs,
    (incidents_path, history_path): &(Option<PathBuf>, Option<PathBuf>),
    model: &Model,
    progress: &Progress,
) -> Result<()> {
    let (history_path, incidents_path) = (history_path.as_deref(), incidents_path.as_deref());
    crate::output::check_one_reader(&[
        ("changes file", Some(&s.changes)),
        ("history file", history_path),
        ("incidents file", incidents_path),
    ])?;
    let columns = &model.config.columns;
    if (columns.service.is_some() || columns.author.is_some())
        && history_path.is_none()
        && incidents_path.is_none()
        && !s.no_history
    {
        progress.log(
            "warning: the model has per-service or per-author history features and no --history \
             was given: each change's history is counted from --changes alone (give the changes \
             before them with --history, or --no-history when that is meant)",
        );
    }
    Ok(())
}

/// Reads the past changes (their identity and time) and the incidents at once.
fn read_history(
    config: &Config,
    history: Option<&Path>,
    incidents: Option<&Path>,
) -> (
    Result<Option<Events>>,
    Result<Option<crate::load::Incidents>>,
) {
    rayon::join(
        || {
            history
                .map(|path| load_events(path, config, Read::Events).map(|h| h.events))
                .transpose()
        },
        || incidents.map(load_incidents).transpose(),
    )
}

/// Warns of changes in both the history and the changes scored whose copies differ.
fn warn_conflicts(conflicts: Option<(usize, String)>, progress: &Progress) {
    if let Some((conflicts, first)) = conflicts {
        progress.log(&format!(
            "warning: {conflicts} change(s) in both --history and --changes differ in time, \
             service or author (the first: '{first}'); the --changes copy is used"
        ));
    }
}

/// The changes to score with their point-in-time history, as `score` reads them.
pub struct Loaded {
    /// The history and the changes to score, in time order.
    pub timeline: crate::load::Events,
    /// The changes to score: their rows of `timeline`, in input order.
    pub rows: Vec<usize>,
    pub prepared: crate::pipeline::Prepared,
    pub passthrough: DataFrame,
    pub incidents: crate::load::Incidents,
    /// The changes' own label column, in input order (when read with it).
    pub labels: Option<Vec<bool>>,
    /// Which history the history features counted ([`crate::reasons::Explainer::with_history`]).
    pub history_given: HistoryGiven,
}

/// Loads the changes to score (`read`: with their label column or without) and their
/// history (`files`: the incidents and history files from
/// [`crate::commands::score::history_files`]) and computes their features' inputs.
pub fn load(
    s: &Inputs,
    files: (Option<PathBuf>, Option<PathBuf>),
    model: &Model,
    read: Read,
    progress: &Progress,
) -> Result<Loaded> {
    check_history_given(s, &files, model, progress)?;
    let (incidents_path, history_path) = files;
    progress.stage("loading changes and history");
    // The three files are read at once; errors are reported in this order all the same.
    let (changes, (history, incidents)) = rayon::join(
        || load_events(&s.changes, &model.config, read),
        || {
            read_history(
                &model.config,
                history_path.as_deref(),
                incidents_path.as_deref(),
            )
        },
    );
    let LoadedEvents {
        events,
        frame,
        passthrough,
    } = changes?;
    let history = history?;
    let incidents = incidents?.unwrap_or_default();
    let labels = events.label.clone();
    let history_given = HistoryGiven::of(history_path.is_some(), incidents_path.is_some());
    progress.stage("linking incidents and history features");
    let (timeline, rows, conflicts) = join_events(history, events);
    warn_conflicts(conflicts, progress);
    let prepared = prepare_events(&timeline, &incidents, model.labelling, &rows, frame);
    if incidents_path.is_some() {
        progress.log(&format!("history {}", prepared.labels.summary.describe()));
    }
    for warning in scoring_gaps(
        &model.feature_defs(),
        &prepared.frame,
        0..prepared.frame.len(),
    ) {
        progress.log(&format!("warning: {warning}"));
    }
    Ok(Loaded {
        timeline,
        rows,
        prepared,
        passthrough,
        incidents,
        labels,
        history_given,
    })
}
