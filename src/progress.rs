//! Progress and log lines on stderr: a spinner while long stages run (only when stderr is
//! a terminal), summaries otherwise; nothing at all with `--quiet`. No colour is used, so
//! output reads the same with `NO_COLOR`.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports stages and summaries to stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    /// With `CHANGERISK_TIMINGS` set: the running stage and when it started.
    timing: Option<RefCell<(String, Instant)>>,
}

impl Progress {
    /// A reporter; silent when `quiet`, without spinner when stderr is not a terminal.
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let timing = std::env::var_os("CHANGERISK_TIMINGS")
            .map(|_| RefCell::new((String::new(), Instant::now())));
        Progress { bar, quiet, timing }
    }

    /// Names the stage now running.
    pub fn stage(&self, message: &str) {
        self.close_stage(message);
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_string());
        }
    }

    /// With `CHANGERISK_TIMINGS` set, prints how long the previous stage took.
    fn close_stage(&self, next: &str) {
        if let Some(timing) = &self.timing {
            let mut t = timing.borrow_mut();
            if !t.0.is_empty() {
                let elapsed = t.1.elapsed().as_secs_f64();
                let _ = writeln!(std::io::stderr(), "timing: {} {elapsed:.3}s", t.0);
            }
            *t = (next.to_string(), Instant::now());
        }
    }

    /// Prints a summary line (or lines) to stderr.
    pub fn log(&self, message: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            // Not `eprintln!`, which panics when stderr cannot be written.
            Some(bar) => bar.suspend(|| {
                let _ = writeln!(std::io::stderr(), "{message}");
            }),
            None => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.close_stage("");
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
