//! A gradient-boosted trees learner for the log loss, written for changerisk: histogram
//! binning ([`bins`]), leaf-wise growth with monotone constraints ([`grow`]), and trees
//! stored as plain nodes in the model file with exact TreeSHAP contributions ([`tree`]).
//! See the README for why it is our own rather than a binding.

pub mod bins;
pub mod grow;
pub mod tree;

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use bins::Binned;
pub use grow::{base_score, boost, BoostParams, Boosted, Validation};
pub use tree::{Node, ShapScratch, Tree};
use tree::{PathTable, ShapTable};

/// The trees of a fitted model: their values add to the raw score (log-odds). Equal
/// when the trees are (the explainers follow from them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ensemble {
    pub trees: Vec<Tree>,
    /// The trees' mean output over the training rows (TreeSHAP's base value).
    pub expected_value: f64,
    /// How each tree is explained, worked out once per model (not stored).
    #[serde(skip)]
    explainers: Vec<Explainer>,
}

impl PartialEq for Ensemble {
    fn eq(&self, other: &Ensemble) -> bool {
        self.trees == other.trees && self.expected_value == other.expected_value
    }
}

/// How [`Ensemble::explain`] explains one tree.
#[derive(Debug, Clone)]
enum Explainer {
    /// From the tree's table of every pattern's terms (trees with few splits), worked
    /// out when many rows are explained; before, by TreeSHAP on each row, which the
    /// table equals bit for bit. The tree's depth sizes the scratch space.
    Table {
        table: std::sync::OnceLock<ShapTable>,
        depth: usize,
    },
    /// From each leaf's terms for every pattern of its path's features (larger trees).
    Paths(PathTable),
    /// By TreeSHAP on each row; the tree's depth sizes the scratch space.
    Recursive { depth: usize },
}

impl Explainer {
    fn new(tree: &Tree) -> Explainer {
        let depth = tree.depth();
        if ShapTable::fits(tree) {
            return Explainer::Table {
                table: std::sync::OnceLock::new(),
                depth,
            };
        }
        PathTable::new(tree).map_or(Explainer::Recursive { depth }, Explainer::Paths)
    }
}

impl Ensemble {
    /// An ensemble of `trees`.
    pub fn new(trees: Vec<Tree>) -> Ensemble {
        let expected_value = trees.iter().map(Tree::expected_value).sum();
        let explainers = trees.par_iter().map(Explainer::new).collect();
        Ensemble {
            trees,
            expected_value,
            explainers,
        }
    }

    /// Checks a loaded ensemble and computes what is not stored.
    pub fn check(&mut self, features: usize) -> Result<(), String> {
        for (k, t) in self.trees.iter().enumerate() {
            t.check(features).map_err(|e| format!("tree {k}: {e}"))?;
        }
        self.explainers = self.trees.par_iter().map(Explainer::new).collect();
        let expected: f64 = self.trees.iter().map(Tree::expected_value).sum();
        if (expected - self.expected_value).abs() > 1e-9 * (1.0 + expected.abs()) {
            return Err(format!(
                "the trees' expected value is {expected}, the file says {}",
                self.expected_value
            ));
        }
        Ok(())
    }

    /// The trees' summed output for one row.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.trees.iter().map(|t| t.predict(x)).sum()
    }

    /// [`Ensemble::predict`] of every row of `x`, bit for bit, with the trees in the
    /// outer loop over blocks of rows (as in [`Ensemble::explain`]).
    pub fn predict_rows(&self, x: ArrayView2<f64>) -> Vec<f64> {
        let x = x.as_standard_layout();
        let rows = row_slices(&x);
        let mut outputs = vec![-0.0; rows.len()];
        for (rows, outputs) in rows
            .chunks(EXPLAIN_BLOCK)
            .zip(outputs.chunks_mut(EXPLAIN_BLOCK))
        {
            for t in &self.trees {
                for (x, output) in rows.iter().zip(outputs.iter_mut()) {
                    *output += t.predict(x);
                }
            }
        }
        outputs
    }

    /// The trees as tests on the binned rows `data`, to predict those rows.
    pub fn binned<'a>(&self, data: &'a Binned) -> BinnedTrees<'a> {
        BinnedTrees {
            trees: self
                .trees
                .iter()
                .map(|t| grow::BinTree::new(t, data))
                .collect(),
            data,
        }
    }

    /// Each row's summed output (as [`Ensemble::predict`]), adding the row's TreeSHAP
    /// values to `phi[row]` (one per feature); with `expected_value` they add up to that
    /// output. Bit for bit what one row at a time would give: every row gets the same
    /// additions in the same order, but the trees go in the outer loop over a block of
    /// rows, so the additions of different rows overlap instead of waiting on each other.
    pub fn explain(&self, x: ArrayView2<f64>, phi: &mut [Vec<f64>]) -> Vec<f64> {
        let x = x.as_standard_layout();
        let rows = row_slices(&x);
        // -0.0, the neutral element of addition, where `Iterator::sum` starts too.
        let mut outputs = vec![-0.0; rows.len()];
        let mut scratch = ShapScratch::default();
        // Many rows: every path table's terms worked out once (in parallel, on first
        // use) beat working out each row's own.
        if rows.len() >= TABULATE_ROWS {
            self.explainers
                .par_iter()
                .zip(&self.trees)
                .for_each(|(e, t)| match e {
                    Explainer::Table { table, depth } => {
                        table.get_or_init(|| ShapTable::new(t, *depth).expect("a tree that fits"));
                    }
                    Explainer::Paths(paths) => paths.tabulate(),
                    Explainer::Recursive { .. } => {}
                });
        }
        let blocks = rows
            .chunks(EXPLAIN_BLOCK)
            .zip(phi.chunks_mut(EXPLAIN_BLOCK))
            .zip(outputs.chunks_mut(EXPLAIN_BLOCK));
        for ((rows, phi), outputs) in blocks {
            for (t, e) in self.trees.iter().zip(&self.explainers) {
                for ((x, phi), output) in rows.iter().zip(phi.iter_mut()).zip(outputs.iter_mut()) {
                    // A table where there is one; TreeSHAP on the row otherwise (a small
                    // tree's table, not worked out yet, equals it bit for bit).
                    *output += match e {
                        Explainer::Paths(paths) => paths.explain(x, phi),
                        Explainer::Table { table, .. } if table.get().is_some() => {
                            table.get().expect("checked").explain(x, phi)
                        }
                        Explainer::Table { depth, .. } | Explainer::Recursive { depth } => {
                            t.shap(x, *depth, phi, &mut scratch);
                            t.predict(x)
                        }
                    };
                }
            }
        }
        outputs
    }
}

/// An ensemble's trees routing the rows of one [`Binned`] (see [`Ensemble::binned`]).
pub struct BinnedTrees<'a> {
    trees: Vec<grow::BinTree>,
    data: &'a Binned,
}

impl BinnedTrees<'_> {
    /// [`Ensemble::predict`] of the binned rows `rows`, bit for bit (the trees'
    /// thresholds route the binned rows exactly like their raw values).
    pub fn predict(&self, rows: std::ops::Range<usize>) -> Vec<f64> {
        let mut outputs = vec![-0.0; rows.len()];
        let mut values = vec![0.0; EXPLAIN_BLOCK];
        for (first, outputs) in rows
            .step_by(EXPLAIN_BLOCK)
            .zip(outputs.chunks_mut(EXPLAIN_BLOCK))
        {
            let values = &mut values[..outputs.len()];
            for tree in &self.trees {
                tree.leaf_values(self.data, first, values);
                for (output, v) in outputs.iter_mut().zip(values.iter()) {
                    *output += v;
                }
            }
        }
        outputs
    }
}

/// The rows of a standard-layout matrix as slices.
fn row_slices<'a>(x: &'a ndarray::CowArray<f64, ndarray::Ix2>) -> Vec<&'a [f64]> {
    x.rows()
        .into_iter()
        .map(|r| r.to_slice().expect("a standard-layout row is contiguous"))
        .collect()
}

/// Rows [`Ensemble::explain`] takes through the trees together: each tree's table is
/// read from the L1 cache for all of them, their contributions stay in the L2 cache.
const EXPLAIN_BLOCK: usize = 256;

/// Rows from which [`Ensemble::explain`] works out the path tables first: a leaf's table
/// costs what explaining about 2^k rows costs (k features on its path, 4 to 6 on most).
const TABULATE_ROWS: usize = 64;
