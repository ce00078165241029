//! A gradient-boosted trees learner for the log loss, written for changerisk: histogram
//! binning ([`bins`]), leaf-wise growth with monotone constraints ([`grow`]), and trees
//! stored as plain nodes in the model file with exact TreeSHAP contributions ([`tree`]).
//! See the README for why it is our own rather than a binding.

pub mod bins;
pub mod grow;
pub mod tree;

use serde::{Deserialize, Serialize};

pub use bins::Binned;
pub use grow::{base_score, boost, BoostParams, Boosted, Validation};
pub use tree::{Node, ShapScratch, Tree};

/// The trees of a fitted model: their values add to the raw score (log-odds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ensemble {
    pub trees: Vec<Tree>,
    /// The trees' mean output over the training rows (TreeSHAP's base value).
    pub expected_value: f64,
    /// Each tree's depth, so explanations size their scratch space once.
    #[serde(skip)]
    depths: Vec<usize>,
}

impl Ensemble {
    /// An ensemble of `trees`.
    pub fn new(trees: Vec<Tree>) -> Ensemble {
        let expected_value = trees.iter().map(Tree::expected_value).sum();
        let depths = trees.iter().map(Tree::depth).collect();
        Ensemble {
            trees,
            expected_value,
            depths,
        }
    }

    /// Checks a loaded ensemble and computes what is not stored.
    pub fn check(&mut self, features: usize) -> Result<(), String> {
        for (k, t) in self.trees.iter().enumerate() {
            t.check(features).map_err(|e| format!("tree {k}: {e}"))?;
        }
        self.depths = self.trees.iter().map(Tree::depth).collect();
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

    /// Adds every tree's TreeSHAP values for `x` to `phi` (one per feature); with
    /// `expected_value` they add up to [`Ensemble::predict`].
    pub fn shap(&self, x: &[f64], phi: &mut [f64], scratch: &mut ShapScratch) {
        for (t, &d) in self.trees.iter().zip(&self.depths) {
            t.shap(x, d, phi, scratch);
        }
    }
}
