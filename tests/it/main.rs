//! Integration tests: the `changerisk` binary run on small generated or hand-written
//! inputs, one module per area, sharing the harness in `util`.

mod annotate;
mod atomic;
mod bad_input;
mod byod;
mod cli;
mod determinism;
mod drift;
mod export;
mod formats;
mod labelling;
mod leakage;
mod learners;
mod partitioned;
mod properties;
mod report;
mod sql;
mod sql_spark;
mod util;
