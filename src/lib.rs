//! changerisk scores software changes by the probability that they cause an incident,
//! learned from a team's own change and incident history.
//!
//! The pipeline, one module per stage: [`load`] (validated tables) → [`label`] (link
//! incidents to the changes that caused them) → [`history`] and [`features`]
//! (point-in-time feature values) → [`train`] / [`model`] (a calibrated logistic model
//! and its file) → [`reasons`] and [`policy`] (explanations and guardrails) → outputs
//! ([`table`], [`output`]). [`metrics`] measures, [`generate`] writes synthetic
//! histories, [`infer`] proposes a feature config for a team's own export, and
//! [`commands`] ties the stages to the command line.

pub mod analysis;
pub mod annotate;
pub mod batch;
pub mod cli;
pub mod commands;
pub mod config;
pub mod dataset;
pub mod drift;
pub mod error;
pub mod export;
pub mod features;
pub mod frame;
pub mod gbdt;
pub mod generate;
pub mod history;
pub mod infer;
pub mod jsonl;
pub mod label;
pub mod load;
pub mod metrics;
pub mod model;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod progress;
pub mod reasons;
pub mod report;
pub mod schema;
pub mod solver;
pub mod sql;
pub mod table;
pub mod train;

pub use error::{Error, Result};
