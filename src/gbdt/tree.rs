//! One regression tree of the ensemble: its nodes as stored in the model file, the
//! value it gives a row, and the row's exact Shapley contributions (TreeSHAP).

use serde::{Deserialize, Serialize};

/// A node: a split on a raw feature value, or a leaf. Rows with `x ≤ threshold` go left;
/// a missing value (NaN) goes right. `rows` is how many training rows reached the node
/// (the weights TreeSHAP uses for "feature unknown").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Node {
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
        rows: f64,
    },
    Leaf {
        value: f64,
        rows: f64,
    },
}

impl Node {
    fn rows(&self) -> f64 {
        match self {
            Node::Split { rows, .. } | Node::Leaf { rows, .. } => *rows,
        }
    }
}

/// A tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// One element of the TreeSHAP path: a feature met on the way down, the share of rows
/// that follow the path when the feature is unknown (`zero`) or known (`one`), and the
/// permutation weight.
#[derive(Debug, Clone, Copy, Default)]
struct PathElem {
    feature: usize,
    zero: f64,
    one: f64,
    weight: f64,
}

/// Reusable working memory for [`Tree::shap`].
#[derive(Debug, Default)]
pub struct ShapScratch(Vec<PathElem>);

/// The feature index of the path's root element (no feature).
const NO_FEATURE: usize = usize::MAX;

impl Tree {
    /// The value of the leaf `x` reaches.
    pub fn predict(&self, x: &[f64]) -> f64 {
        self.leaf_reached(&|_, feature, threshold| x[feature] <= threshold)
    }

    /// The value of the leaf reached going left at the splits where
    /// `goes_left(node, feature, threshold)`.
    pub(crate) fn leaf_reached(&self, goes_left: &impl Fn(usize, usize, f64) -> bool) -> f64 {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    i = if goes_left(i, *feature, *threshold) {
                        *left
                    } else {
                        *right
                    }
                }
                Node::Leaf { value, .. } => return *value,
            }
        }
    }

    /// Whether any split is on `feature`.
    pub fn uses(&self, feature: usize) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n, Node::Split { feature: f, .. } if *f == feature))
    }

    /// The mean leaf value over the training rows: TreeSHAP's base value.
    pub fn expected_value(&self) -> f64 {
        let root = self.nodes[0].rows();
        if root <= 0.0 {
            return 0.0;
        }
        self.nodes
            .iter()
            .map(|n| match n {
                Node::Leaf { value, rows } => value * rows / root,
                Node::Split { .. } => 0.0,
            })
            .sum()
    }

    /// Depth of the deepest leaf: splits on the longest path (the root alone is depth 0).
    pub fn depth(&self) -> usize {
        let mut deepest = 0;
        let mut stack = vec![(0usize, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            match self.nodes[i] {
                Node::Split { left, right, .. } => {
                    stack.push((left, depth + 1));
                    stack.push((right, depth + 1));
                }
                Node::Leaf { .. } => deepest = deepest.max(depth),
            }
        }
        deepest
    }

    /// The share of a split's `rows` (training rows) that went to its `child`.
    fn share(&self, child: usize, rows: f64) -> f64 {
        if rows > 0.0 {
            self.nodes[child].rows() / rows
        } else {
            0.0
        }
    }

    /// Most splits on one path of a tree read from a model file (training grows at most
    /// `max_depth`, 8 by default).
    pub const MAX_DEPTH: usize = 64;

    /// Checks the node links and values (a model file is read from disk).
    pub fn check(&self, features: usize) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a tree has no nodes".into());
        }
        // Children always come after their parent, so walking cannot loop; each node but
        // the root has exactly one parent (a tree, not a graph whose paths could multiply),
        // and no path is deeper than MAX_DEPTH (the explanations recurse along paths).
        let mut parents = vec![0u32; self.nodes.len()];
        let mut depth = vec![0usize; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            if i > 0 && parents[i] != 1 {
                return Err(format!(
                    "node {i} has {} parents: expected exactly one",
                    parents[i]
                ));
            }
            match n {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    rows,
                } => {
                    let child_ok = |c: usize| c > i && c < self.nodes.len();
                    if *feature >= features {
                        return Err(format!(
                            "node {i} splits on feature {feature}, but the model has {features}"
                        ));
                    }
                    if !child_ok(*left) || !child_ok(*right) {
                        return Err(format!(
                            "node {i} links to nodes {left} and {right}: children must come after their parent, below {}",
                            self.nodes.len()
                        ));
                    }
                    if threshold.is_nan() || !(rows.is_finite() && *rows >= 0.0) {
                        return Err(format!(
                            "node {i} has threshold {threshold} and {rows} rows: expected a number and a non-negative count"
                        ));
                    }
                    if depth[i] >= Self::MAX_DEPTH {
                        return Err(format!(
                            "node {i} splits at depth {}: expected at most {} splits on a path",
                            depth[i] + 1,
                            Self::MAX_DEPTH
                        ));
                    }
                    for c in [*left, *right] {
                        parents[c] += 1;
                        depth[c] = depth[i] + 1;
                    }
                }
                Node::Leaf { value, rows } => {
                    let max = crate::model::MAX_LOG_ODDS;
                    if !(value.abs() <= max && rows.is_finite() && *rows >= 0.0) {
                        return Err(format!(
                            "leaf {i} has value {value:?} and {rows:?} rows: expected log-odds within +-{max} and a non-negative count"
                        ));
                    }
                }
            }
        }
        // A split's rows are its children's (TreeSHAP weighs each side by its share, so
        // other counts would make the contributions stop adding up to the score).
        for (i, n) in self.nodes.iter().enumerate() {
            if let Node::Split {
                left, right, rows, ..
            } = n
            {
                let children = self.nodes[*left].rows() + self.nodes[*right].rows();
                if (children - rows).abs() > 1e-9 * rows.max(1.0) {
                    return Err(format!(
                        "node {i} has {rows:?} rows, but its children {left} and {right} have {children:?} together: expected the same"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Adds the exact path-dependent Shapley values of `x` (Lundberg et al., TreeSHAP) to
    /// `phi`; with [`Tree::expected_value`] they add up to [`Tree::predict`]. `depth` is
    /// [`Tree::depth`] (computed once per tree by the caller); `scratch` is reused
    /// between calls.
    pub fn shap(&self, x: &[f64], depth: usize, phi: &mut [f64], scratch: &mut ShapScratch) {
        let goes_left = |_, feature: usize, threshold| x[feature] <= threshold;
        self.shap_terms(depth, &goes_left, &mut |f, term| phi[f] += term, scratch);
    }

    /// Runs TreeSHAP for a row that goes left at the splits where
    /// `goes_left(node, feature, threshold)`,
    /// giving each term `(feature, value)` to `emit` in the order they add up.
    fn shap_terms(
        &self,
        depth: usize,
        goes_left: &impl Fn(usize, usize, f64) -> bool,
        emit: &mut impl FnMut(usize, f64),
        scratch: &mut ShapScratch,
    ) {
        let need = (depth + 2) * (depth + 3);
        if scratch.0.len() < need {
            scratch.0.resize(need, PathElem::default());
        }
        self.recurse(0, goes_left, emit, &mut scratch.0, 0, 1.0, 1.0, NO_FEATURE);
    }

    #[allow(clippy::too_many_arguments)]
    fn recurse(
        &self,
        node: usize,
        goes_left: &impl Fn(usize, usize, f64) -> bool,
        emit: &mut impl FnMut(usize, f64),
        buf: &mut [PathElem],
        len: usize,
        zero: f64,
        one: f64,
        feature: usize,
    ) {
        // buf[..len] holds this node's copy of the parent's path.
        extend(buf, len, zero, one, feature);
        let mut len = len + 1;
        match &self.nodes[node] {
            Node::Leaf { value, .. } => {
                for i in 1..len {
                    let w = unwound_sum(&buf[..len], i);
                    let e = buf[i];
                    emit(e.feature, w * (e.one - e.zero) * value);
                }
            }
            Node::Split {
                feature: split,
                threshold,
                left,
                right,
                rows,
            } => {
                let (hot, cold) = if goes_left(node, *split, *threshold) {
                    (*left, *right)
                } else {
                    (*right, *left)
                };
                let (mut in_zero, mut in_one) = (1.0, 1.0);
                // A feature met twice on the path: undo its first occurrence.
                if let Some(k) = (1..len).find(|&k| buf[k].feature == *split) {
                    in_zero = buf[k].zero;
                    in_one = buf[k].one;
                    unwind(buf, len, k);
                    len -= 1;
                }
                for (child, child_one) in [(hot, in_one), (cold, 0.0)] {
                    let (mine, rest) = buf.split_at_mut(len);
                    rest[..len].copy_from_slice(mine);
                    self.recurse(
                        child,
                        goes_left,
                        emit,
                        rest,
                        len,
                        in_zero * self.share(child, *rows),
                        child_one,
                        *split,
                    );
                }
            }
        }
    }
}

/// Trees with at most this many splits are explained from a [`ShapTable`]: 2^6 = 64
/// patterns, a few thousand terms at most (a 7-leaf tree, the smaller default).
const MAX_TABLE_SPLITS: usize = 6;

/// A tree's TreeSHAP terms for every pattern of decisions at its splits, worked out once
/// per model: a row's terms depend on `x` only through which way it goes at each split,
/// so explaining a row takes a comparison per split and an addition per term. Each
/// feature's terms are added in the order [`Tree::shap`] adds them (bit-identical
/// results), in a register, one feature after another (terms of different features never
/// depended on each other). Every pattern has the same number of terms per feature,
/// padded with -0.0 (which leaves any sum as it is), so that the loops run the same
/// counts for every row instead of mispredicting where they end.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapTable {
    /// The splits in node order: feature and threshold. Bit k of a row's pattern is set
    /// when the row goes left at split k.
    splits: Vec<(usize, f64)>,
    /// The value of the leaf each pattern reaches.
    leaves: Vec<f64>,
    /// The features the terms go to, each with its number of terms per pattern.
    features: Vec<(usize, usize)>,
    /// The terms of pattern `p`: `width` of them from `p * width`, feature by feature.
    terms: Vec<f64>,
    width: usize,
}

impl ShapTable {
    /// `tree` has few enough splits for a table (at most `MAX_TABLE_SPLITS`).
    pub fn fits(tree: &Tree) -> bool {
        let splits = tree
            .nodes
            .iter()
            .filter(|n| matches!(n, Node::Split { .. }));
        splits.count() <= MAX_TABLE_SPLITS
    }

    /// The table of `tree` (of depth `depth`), or `None` when it has too many splits.
    pub fn new(tree: &Tree, depth: usize) -> Option<ShapTable> {
        let mut split_of = vec![0; tree.nodes.len()];
        let mut splits = Vec::new();
        for (i, n) in tree.nodes.iter().enumerate() {
            if let Node::Split {
                feature, threshold, ..
            } = n
            {
                split_of[i] = splits.len();
                splits.push((*feature, *threshold));
            }
        }
        if splits.len() > MAX_TABLE_SPLITS {
            return None;
        }
        let mut scratch = ShapScratch::default();
        let mut leaves = Vec::new();
        let patterns: Vec<Vec<(usize, f64)>> = (0..1usize << splits.len())
            .map(|pattern| {
                let goes_left = |node: usize, _, _| pattern & (1 << split_of[node]) != 0;
                let mut emitted = Vec::new();
                tree.shap_terms(
                    depth,
                    &goes_left,
                    &mut |f, term| emitted.push((f, term)),
                    &mut scratch,
                );
                leaves.push(tree.leaf_reached(&goes_left));
                emitted
            })
            .collect();
        let mut features: Vec<(usize, usize)> = Vec::new();
        for emitted in &patterns {
            for &(f, _) in emitted {
                let count = emitted.iter().filter(|e| e.0 == f).count();
                match features.iter_mut().find(|g| g.0 == f) {
                    Some(g) => g.1 = g.1.max(count),
                    None => features.push((f, count)),
                }
            }
        }
        let width = features.iter().map(|g| g.1).sum();
        let mut terms = Vec::with_capacity(patterns.len() * width);
        for emitted in &patterns {
            for &(f, count) in &features {
                let start = terms.len();
                terms.extend(emitted.iter().filter(|e| e.0 == f).map(|e| e.1));
                terms.resize(start + count, -0.0);
            }
        }
        Some(ShapTable {
            splits,
            leaves,
            features,
            terms,
            width,
        })
    }

    /// Adds the TreeSHAP values of `x` to `phi`, as [`Tree::shap`] does, and returns
    /// the tree's value for `x` ([`Tree::predict`]).
    pub fn explain(&self, x: &[f64], phi: &mut [f64]) -> f64 {
        let mut pattern = 0;
        for (k, &(feature, threshold)) in self.splits.iter().enumerate() {
            pattern |= usize::from(x[feature] <= threshold) << k;
        }
        let mut terms = &self.terms[pattern * self.width..][..self.width];
        for &(feature, count) in &self.features {
            let (mine, rest) = terms.split_at(count);
            phi[feature] = mine.iter().fold(phi[feature], |sum, term| sum + term);
            terms = rest;
        }
        self.leaves[pattern]
    }
}

/// Most distinct features on one leaf's path for a [`PathTable`] (2^8 patterns).
const MAX_PATH_FEATURES: usize = 8;

/// One leaf of a [`PathTable`].
#[derive(Debug, Clone)]
struct PathLeaf {
    value: f64,
    /// The distinct features on the path, in order of first appearance.
    features: Vec<usize>,
    /// The share of the training rows each feature's splits on the path keep (the
    /// "zero" fractions).
    zeros: Vec<f64>,
    /// The path's splits: the position of their feature in `features`, the feature, the
    /// threshold, and whether the path goes left.
    conditions: Vec<(usize, usize, f64, bool)>,
    /// For each pattern `p` (bit j set: the row follows the path at every split on
    /// `features[j]`), the terms of `features`, `features.len()` from `p * len`: worked
    /// out when many rows are explained ([`PathTable::tabulate`]).
    terms: std::sync::OnceLock<Vec<f64>>,
}

impl PathLeaf {
    /// The terms of `pattern`, one per feature of the path, given to `emit` in order;
    /// `path` is scratch space of `features.len() + 1` elements. The same arithmetic
    /// whether a table is being filled or one row explained: bit for bit the same terms.
    fn pattern_terms(&self, pattern: usize, path: &mut [PathElem], emit: &mut impl FnMut(f64)) {
        let k = self.features.len();
        extend(path, 0, 1.0, 1.0, NO_FEATURE);
        for (j, (&f, &zero)) in self.features.iter().zip(&self.zeros).enumerate() {
            let one = if pattern & (1 << j) != 0 { 1.0 } else { 0.0 };
            extend(path, j + 1, zero, one, f);
        }
        for i in 1..=k {
            let w = unwound_sum(&path[..=k], i);
            emit(w * (path[i].one - path[i].zero) * self.value);
        }
    }

    /// Every pattern's terms (see `terms`), worked out on first use.
    fn table(&self) -> &[f64] {
        self.terms.get_or_init(|| {
            let k = self.features.len();
            let mut terms = Vec::with_capacity(k << k);
            let mut path = [PathElem::default(); MAX_PATH_FEATURES + 1];
            for pattern in 0..1usize << k {
                self.pattern_terms(pattern, &mut path, &mut |t| terms.push(t));
            }
            terms
        })
    }
}

/// TreeSHAP by leaf paths, for trees too large for a [`ShapTable`]. TreeSHAP is a sum
/// over leaves, and a leaf's share depends on a row only through which of its path's
/// features the row follows all the way (the "one" fractions), the cover ratios being
/// fixed: each leaf keeps its terms for every such pattern, so explaining a row costs a
/// comparison per path split and an addition per path feature, instead of the
/// recursion's unwinding. The sums equal [`Tree::shap`]'s up to rounding.
#[derive(Debug, Clone)]
pub struct PathTable {
    leaves: Vec<PathLeaf>,
}

impl PathTable {
    /// The path table of `tree`, or `None` when a path has more than
    /// 8 (`MAX_PATH_FEATURES`) distinct features.
    pub fn new(tree: &Tree) -> Option<PathTable> {
        let mut leaves = Vec::new();
        // (node, conditions so far, cover ratio per feature of `features`, features)
        let mut stack = vec![(0usize, Vec::new(), Vec::<f64>::new(), Vec::<usize>::new())];
        while let Some((node, conditions, zeros, features)) = stack.pop() {
            match &tree.nodes[node] {
                Node::Leaf { value, .. } => leaves.push(PathLeaf {
                    value: *value,
                    features,
                    zeros,
                    conditions,
                    terms: std::sync::OnceLock::new(),
                }),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    rows,
                } => {
                    for (child, went_left) in [(*left, true), (*right, false)] {
                        let share = tree.share(child, *rows);
                        let (mut conditions, mut zeros, mut features) =
                            (conditions.clone(), zeros.clone(), features.clone());
                        let j = match features.iter().position(|f| f == feature) {
                            Some(j) => {
                                zeros[j] *= share;
                                j
                            }
                            None => {
                                if features.len() == MAX_PATH_FEATURES {
                                    return None;
                                }
                                features.push(*feature);
                                zeros.push(share);
                                features.len() - 1
                            }
                        };
                        conditions.push((j, *feature, *threshold, went_left));
                        stack.push((child, conditions, zeros, features));
                    }
                }
            }
        }
        Some(PathTable { leaves })
    }

    /// Works out every leaf's table of terms, for explaining many rows (a leaf has up to
    /// 2^8 patterns: too many to work out for one row, as `annotate` explains).
    pub fn tabulate(&self) {
        for leaf in &self.leaves {
            leaf.table();
        }
    }

    /// Adds the TreeSHAP values of `x` to `phi`, as [`Tree::shap`] does up to rounding,
    /// and returns the tree's value for `x` ([`Tree::predict`]). A leaf's terms come
    /// from its table once [`PathTable::tabulate`] has worked it out, and are worked out
    /// for `x`'s pattern alone before: the same terms, bit for bit.
    pub fn explain(&self, x: &[f64], phi: &mut [f64]) -> f64 {
        let mut reached = 0.0;
        let mut path = [PathElem::default(); MAX_PATH_FEATURES + 1];
        for leaf in &self.leaves {
            let k = leaf.features.len();
            let mut pattern = (1usize << k) - 1;
            for &(j, feature, threshold, went_left) in &leaf.conditions {
                if (x[feature] <= threshold) != went_left {
                    pattern &= !(1 << j);
                }
            }
            if pattern == (1 << k) - 1 {
                reached = leaf.value;
            }
            match leaf.terms.get() {
                Some(terms) => {
                    for (&f, term) in leaf.features.iter().zip(&terms[pattern * k..]) {
                        phi[f] += term;
                    }
                }
                None => {
                    let mut features = leaf.features.iter();
                    leaf.pattern_terms(pattern, &mut path, &mut |term| {
                        phi[*features.next().expect("one term per feature")] += term;
                    });
                }
            }
        }
        reached
    }
}

fn extend(path: &mut [PathElem], len: usize, zero: f64, one: f64, feature: usize) {
    path[len] = PathElem {
        feature,
        zero,
        one,
        weight: if len == 0 { 1.0 } else { 0.0 },
    };
    let l = len as f64;
    for i in (0..len).rev() {
        path[i + 1].weight += one * path[i].weight * (i as f64 + 1.0) / (l + 1.0);
        path[i].weight = zero * path[i].weight * (l - i as f64) / (l + 1.0);
    }
}

fn unwind(path: &mut [PathElem], len: usize, i: usize) {
    let l = len - 1;
    let lf = l as f64;
    let (one, zero) = (path[i].one, path[i].zero);
    let mut next = path[l].weight;
    for j in (0..l).rev() {
        let jf = j as f64;
        if one != 0.0 {
            let tmp = path[j].weight;
            path[j].weight = next * (lf + 1.0) / ((jf + 1.0) * one);
            next = tmp - path[j].weight * zero * (lf - jf) / (lf + 1.0);
        } else {
            path[j].weight = path[j].weight * (lf + 1.0) / (zero * (lf - jf));
        }
    }
    for j in i..l {
        path[j].feature = path[j + 1].feature;
        path[j].zero = path[j + 1].zero;
        path[j].one = path[j + 1].one;
    }
}

fn unwound_sum(path: &[PathElem], i: usize) -> f64 {
    let l = path.len() - 1;
    let lf = l as f64;
    let (one, zero) = (path[i].one, path[i].zero);
    let mut total = 0.0;
    if one != 0.0 {
        let mut next = path[l].weight;
        for j in (0..l).rev() {
            let jf = j as f64;
            let tmp = next * (lf + 1.0) / ((jf + 1.0) * one);
            total += tmp;
            next = path[j].weight - tmp * zero * (lf - jf) / (lf + 1.0);
        }
    } else {
        for j in (0..l).rev() {
            let jf = j as f64;
            total += path[j].weight * (lf + 1.0) / (zero * (lf - jf));
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A depth-3 tree that splits on feature 0 twice, so the unwinding path is exercised.
    fn sample_tree() -> Tree {
        let split = |feature, threshold, left, right, rows| Node::Split {
            feature,
            threshold,
            left,
            right,
            rows,
        };
        let leaf = |value, rows| Node::Leaf { value, rows };
        Tree {
            nodes: vec![
                split(0, 0.5, 1, 2, 100.0),
                split(1, 0.5, 3, 4, 60.0),
                split(2, 1.5, 5, 6, 40.0),
                split(0, 0.25, 7, 8, 35.0),
                leaf(0.7, 25.0),
                leaf(-0.2, 30.0),
                leaf(0.9, 10.0),
                leaf(-1.0, 20.0),
                leaf(0.3, 15.0),
            ],
        }
    }

    /// The path-dependent expectation of the tree given the features in `known`.
    fn cond_expectation(t: &Tree, x: &[f64], known: &[bool], node: usize) -> f64 {
        match &t.nodes[node] {
            Node::Leaf { value, .. } => *value,
            Node::Split {
                feature,
                threshold,
                left,
                right,
                rows,
            } => {
                if known[*feature] {
                    let next = if x[*feature] <= *threshold {
                        *left
                    } else {
                        *right
                    };
                    cond_expectation(t, x, known, next)
                } else {
                    let (l, r) = (t.nodes[*left].rows(), t.nodes[*right].rows());
                    (l * cond_expectation(t, x, known, *left)
                        + r * cond_expectation(t, x, known, *right))
                        / rows
                }
            }
        }
    }

    /// Shapley values by enumerating every coalition.
    fn brute_force(t: &Tree, x: &[f64], d: usize) -> Vec<f64> {
        let fact = |n: usize| (1..=n).product::<usize>() as f64;
        let mut phi = vec![0.0; d];
        for (j, p) in phi.iter_mut().enumerate() {
            for mask in 0..(1usize << d) {
                if mask & (1 << j) != 0 {
                    continue;
                }
                let s = mask.count_ones() as usize;
                let w = fact(s) * fact(d - s - 1) / fact(d);
                let known: Vec<bool> = (0..d).map(|k| mask & (1 << k) != 0).collect();
                let mut with = known.clone();
                with[j] = true;
                *p += w * (cond_expectation(t, x, &with, 0) - cond_expectation(t, x, &known, 0));
            }
        }
        phi
    }

    #[test]
    fn tree_shap_equals_enumerated_shapley_values_and_adds_up() {
        let t = sample_tree();
        assert_eq!(t.depth(), 3);
        t.check(3).unwrap();
        for x in [
            [0.1, 0.0, 0.0],
            [0.3, 0.0, 2.0],
            [0.3, 1.0, 1.0],
            [0.9, 1.0, 1.0],
            [0.9, 0.0, 2.0],
            [f64::NAN, 0.0, 0.0],
        ] {
            let mut phi = vec![0.0; 3];
            t.shap(&x, t.depth(), &mut phi, &mut ShapScratch::default());
            let want = brute_force(&t, &x, 3);
            for j in 0..3 {
                assert!(
                    (phi[j] - want[j]).abs() < 1e-12,
                    "{x:?}: {phi:?} vs {want:?}"
                );
            }
            let total = t.expected_value() + phi.iter().sum::<f64>();
            assert!((total - t.predict(&x)).abs() < 1e-12);
        }
    }

    #[test]
    fn table_gives_the_recursions_values_bit_for_bit() {
        let t = sample_tree();
        let table = ShapTable::new(&t, t.depth()).unwrap();
        let values = [f64::NAN, -1.0, 0.1, 0.25, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0];
        for &a in &values {
            for &b in &values {
                for &c in &values {
                    let x = [a, b, c];
                    // Non-zero starting values, as the logistic part gives in a blend.
                    let mut want = vec![0.1, -0.3, 0.7];
                    let mut got = want.clone();
                    t.shap(&x, t.depth(), &mut want, &mut ShapScratch::default());
                    assert_eq!(
                        table.explain(&x, &mut got).to_bits(),
                        t.predict(&x).to_bits()
                    );
                    let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{x:?}");
                }
            }
        }
    }

    /// A complete depth-4 tree (15 splits: too many for a [`ShapTable`]) over 4
    /// features, each met several times on a path.
    fn deep_tree() -> Tree {
        let mut rows = vec![0.0; 31];
        for i in (0..31).rev() {
            rows[i] = if i >= 15 {
                (5 + (i * 13) % 17) as f64
            } else {
                rows[2 * i + 1] + rows[2 * i + 2]
            };
        }
        let nodes = (0..31)
            .map(|i| {
                if i >= 15 {
                    Node::Leaf {
                        value: ((i * 37) % 11) as f64 / 5.0 - 1.0,
                        rows: rows[i],
                    }
                } else {
                    Node::Split {
                        feature: (i * 7) % 4,
                        threshold: (i % 5) as f64 * 0.3,
                        left: 2 * i + 1,
                        right: 2 * i + 2,
                        rows: rows[i],
                    }
                }
            })
            .collect();
        Tree { nodes }
    }

    #[test]
    fn path_tables_give_the_recursions_values() {
        for t in [sample_tree(), deep_tree()] {
            let paths = PathTable::new(&t).unwrap();
            // Each row explained before the tables exist, then after: bit for bit equal.
            let tabulated = paths.clone();
            tabulated.tabulate();
            let values = [f64::NAN, -1.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5];
            for (k, &a) in values.iter().enumerate() {
                for &b in &values {
                    for &c in &values {
                        let d = values[(k * 5 + 3) % values.len()];
                        let x = [a, b, c, d];
                        let mut want = vec![0.1, -0.3, 0.7, 0.0];
                        let mut got = want.clone();
                        t.shap(&x, t.depth(), &mut want, &mut ShapScratch::default());
                        assert_eq!(paths.explain(&x, &mut got), t.predict(&x));
                        for (g, w) in got.iter().zip(&want) {
                            assert!((g - w).abs() < 1e-12, "{x:?}: {got:?} vs {want:?}");
                        }
                        let mut from_table = vec![0.1, -0.3, 0.7, 0.0];
                        assert_eq!(tabulated.explain(&x, &mut from_table), t.predict(&x));
                        let bits = |v: &[f64]| v.iter().map(|g| g.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&from_table), "{x:?}");
                    }
                }
            }
        }
        assert!(ShapTable::new(&deep_tree(), 4).is_none());
        // Explaining one row works out no table.
        let paths = PathTable::new(&deep_tree()).unwrap();
        paths.explain(&[0.2, 0.4, 0.6, 0.8], &mut [0.0; 4]);
        assert!(paths.leaves.iter().all(|l| l.terms.get().is_none()));
    }

    #[test]
    fn check_rejects_links_that_could_loop() {
        let mut t = sample_tree();
        if let Node::Split { left, .. } = &mut t.nodes[2] {
            *left = 1;
        }
        let err = t.check(3).unwrap_err();
        assert!(err.contains("node 2 links to nodes 1"), "{err}");
        let err = sample_tree().check(2).unwrap_err();
        assert!(err.contains("feature 2, but the model has 2"), "{err}");
    }

    /// A chain of `splits` splits, each with a leaf on the left and the next on the right.
    fn chain(splits: usize) -> Tree {
        let mut nodes = Vec::new();
        for i in 0..splits {
            let at = nodes.len();
            nodes.push(Node::Split {
                feature: 0,
                threshold: i as f64,
                left: at + 1,
                right: at + 2,
                // The leaves below: one on the left of each split from here on, and the last.
                rows: (splits - i + 1) as f64,
            });
            nodes.push(Node::Leaf {
                value: 0.1,
                rows: 1.0,
            });
        }
        nodes.push(Node::Leaf {
            value: 0.2,
            rows: 1.0,
        });
        Tree { nodes }
    }

    #[test]
    fn check_rejects_shared_nodes_and_paths_too_deep_to_explain() {
        assert_eq!(chain(Tree::MAX_DEPTH).check(1), Ok(()));
        let err = chain(Tree::MAX_DEPTH + 1).check(1).unwrap_err();
        assert!(err.contains("depth 65: expected at most 64"), "{err}");
        // Node 2 sends both sides to node 4: a graph, not a tree (node 3 is left out).
        let mut t = chain(2);
        if let Node::Split { left, .. } = &mut t.nodes[2] {
            *left = 4;
        }
        let err = t.check(1).unwrap_err();
        assert!(err.contains("node 3 has 0 parents"), "{err}");
    }
}
