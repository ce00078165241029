//! Boosting: each round fits one tree to the gradient and Hessian of the log loss,
//! growing it leaf by leaf (the leaf whose best split gains most goes first) from
//! per-bin histograms, the larger child's histogram taken as parent minus smaller child.
//!
//! Monotone constraints follow LightGBM's basic method: a split on a constrained feature
//! is only taken when the children's values are in the required order, and the children
//! then inherit bounds at the midpoint of their values, so no leaf below can undo the
//! order. Everything is deterministic: features are scanned in parallel but chosen in
//! feature order, and rows keep their order inside each leaf.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::bins::{Binned, Slot};
use super::tree::{Node, Tree};
use crate::metrics::log_loss;
use crate::model::sigmoid;

/// Settings of one boosting run.
#[derive(Debug, Clone, PartialEq)]
pub struct BoostParams {
    /// Most trees to grow.
    pub rounds: usize,
    pub learning_rate: f64,
    pub max_leaves: usize,
    pub max_depth: usize,
    pub min_leaf_rows: usize,
    pub min_leaf_hessian: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Smallest loss reduction worth a split.
    pub min_gain: f64,
    /// Stop when the validation loss has not improved for this many rounds.
    pub early_stopping: usize,
    /// Most rows one tree is grown from (0: all). With more training rows, each round
    /// grows its tree from a pseudo-random sample of about this many, fixed by the row
    /// and round numbers, and every row's score is then updated through the tree.
    pub max_rows_per_tree: usize,
    /// Share of the rows each round's tree is grown from (1: all; the smaller of this
    /// and `max_rows_per_tree` applies): row by row, unless the cap is the smaller, when
    /// runs of neighbouring rows are drawn to read less memory.
    pub subsample: f64,
}

/// Rows to validate on while boosting (early stopping).
pub struct Validation<'a> {
    pub x: ArrayView2<'a, f64>,
    pub y: &'a [bool],
    /// Starting raw scores (the logistic part of a blend), or none.
    pub offset: Option<&'a [f64]>,
}

/// The result of boosting.
#[derive(Debug, Clone)]
pub struct Boosted {
    /// The starting raw score (log-odds of the training rate) when there is no offset.
    pub base: f64,
    pub trees: Vec<Tree>,
    /// Validation log loss after each round (empty without validation).
    pub validation_loss: Vec<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    g: f64,
    h: f64,
    n: u32,
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    g: f64,
    h: f64,
    n: usize,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    gain: f64,
    feature: usize,
    bin: usize,
    left: Stats,
    right: Stats,
    left_value: f64,
    right_value: f64,
}

struct Leaf {
    start: usize,
    end: usize,
    depth: usize,
    lower: f64,
    upper: f64,
    stats: Stats,
    hist: Vec<Vec<Bin>>,
    best: Option<Candidate>,
    node: usize,
}

/// Stable partition of `rows` in place: those where `left(row)` first, in their order,
/// then the others, in theirs; returns how many went left. Branch-free: each row is
/// written to both sides and only the side's count moves on (`scratch` holds the right
/// side meanwhile and is at least as long as `rows`).
fn partition(rows: &mut [u32], scratch: &mut [u32], left: impl Fn(u32) -> bool) -> usize {
    let (mut nl, mut nr) = (0, 0);
    for k in 0..rows.len() {
        let i = rows[k];
        let goes_left = left(i);
        // nl <= k: the slot written was already read.
        rows[nl] = i;
        scratch[nr] = i;
        nl += usize::from(goes_left);
        nr += usize::from(!goes_left);
    }
    rows[nl..].copy_from_slice(&scratch[..nr]);
    nl
}

fn add(to: &mut Bin, b: &Bin) {
    to.g += b.g;
    to.h += b.h;
    to.n += b.n;
}

/// The loss of a leaf with gradient sums `s` and value `w` (second-order, with L2).
fn objective(s: Stats, w: f64, l2: f64) -> f64 {
    s.g * w + 0.5 * (s.h + l2) * w * w
}

fn leaf_value(s: Stats, l2: f64, lower: f64, upper: f64) -> f64 {
    // No rows and no penalty (an empty sample with `l2` 0): no step, not 0/0.
    if s.h + l2 <= 0.0 {
        return 0.0f64.clamp(lower, upper);
    }
    (-s.g / (s.h + l2)).clamp(lower, upper)
}

/// Rows per block of a histogram summed by one task.
const HIST_BLOCK: usize = 1 << 14;

struct Grower<'a> {
    data: &'a Binned,
    /// Each row's gradient and Hessian, side by side (one cache line per row).
    grad: &'a [(f64, f64)],
    monotone: &'a [i8],
    p: &'a BoostParams,
}

impl Grower<'_> {
    /// Per-feature bin sums of the gradients of `rows`, read row by row: a row's codes
    /// sit together ([`Binned::by_row`]), so a row costs one cache line however
    /// scattered the leaf's rows are, and its additions go to different columns' bins,
    /// independent of each other. Blocks of [`HIST_BLOCK`] rows are summed in parallel,
    /// then added up in block order: the sums do not depend on the number of threads.
    /// A bundle of flags is counted by combination, and each flag's bins are then the
    /// sums of the combinations with its bit clear and set.
    fn histogram(&self, rows: &[u32]) -> Vec<Vec<Bin>> {
        let data = self.data;
        let width = data.width();
        let bins = data.offsets[width];
        let offsets = &data.offsets[..width];
        let blocks: Vec<Vec<Bin>> = rows
            .par_chunks(HIST_BLOCK)
            .map(|block| {
                let mut hist = vec![Bin::default(); bins];
                for &r in block {
                    let r = r as usize;
                    let (g, h) = self.grad[r];
                    let codes = &data.by_row[r * width..(r + 1) * width];
                    for (&code, &offset) in codes.iter().zip(offsets) {
                        let b = &mut hist[offset + usize::from(code)];
                        b.g += g;
                        b.h += h;
                        b.n += 1;
                    }
                }
                hist
            })
            .collect();
        let mut blocks = blocks.into_iter();
        let mut total = blocks.next().unwrap_or_else(|| vec![Bin::default(); bins]);
        for block in blocks {
            for (t, b) in total.iter_mut().zip(&block) {
                add(t, b);
            }
        }
        data.slots
            .iter()
            .map(|slot| match *slot {
                Slot::Own(c) => total[data.offsets[c]..data.offsets[c + 1]].to_vec(),
                Slot::Bit(c, bit) => {
                    let mut flag = vec![Bin::default(); 2];
                    let combos = &total[data.offsets[c]..data.offsets[c + 1]];
                    for (k, combo) in combos.iter().enumerate() {
                        add(&mut flag[(k >> bit) & 1], combo);
                    }
                    flag
                }
            })
            .collect()
    }

    fn best_split(&self, leaf: &Leaf) -> Option<Candidate> {
        if leaf.depth >= self.p.max_depth || leaf.stats.n < 2 * self.p.min_leaf_rows {
            return None;
        }
        let l2 = self.p.l2;
        let total = leaf.stats;
        let own = objective(total, leaf_value(total, l2, leaf.lower, leaf.upper), l2);
        // Sequential: a leaf's scan is short, and folds and candidates already run in
        // parallel.
        let per_feature = leaf.hist.iter().enumerate().map(|(f, hist)| {
            let m = self.monotone.get(f).copied().unwrap_or(0);
            let mut best: Option<Candidate> = None;
            let mut left = Stats {
                g: 0.0,
                h: 0.0,
                n: 0,
            };
            for (b, bin) in hist[..hist.len() - 1].iter().enumerate() {
                left.g += bin.g;
                left.h += bin.h;
                left.n += bin.n as usize;
                // An empty bin splits exactly like the one before it.
                if bin.n == 0 || left.n < self.p.min_leaf_rows {
                    continue;
                }
                if total.n - left.n < self.p.min_leaf_rows {
                    break;
                }
                let right = Stats {
                    g: total.g - left.g,
                    h: total.h - left.h,
                    n: total.n - left.n,
                };
                if left.h < self.p.min_leaf_hessian || right.h < self.p.min_leaf_hessian {
                    continue;
                }
                let wl = leaf_value(left, l2, leaf.lower, leaf.upper);
                let wr = leaf_value(right, l2, leaf.lower, leaf.upper);
                if (m > 0 && wl > wr) || (m < 0 && wl < wr) {
                    continue;
                }
                let gain = own - objective(left, wl, l2) - objective(right, wr, l2);
                if gain > best.map_or(self.p.min_gain, |c| c.gain) {
                    best = Some(Candidate {
                        gain,
                        feature: f,
                        bin: b,
                        left,
                        right,
                        left_value: wl,
                        right_value: wr,
                    });
                }
            }
            best
        });
        per_feature
            .flatten()
            .fold(None, |best: Option<Candidate>, c| match best {
                Some(b) if b.gain >= c.gain => Some(b),
                _ => Some(c),
            })
    }

    /// Grows one tree; returns it with every leaf's row range in `rows` and its value.
    fn grow(&self, rows: &mut [u32]) -> (Tree, Vec<(usize, usize, f64)>) {
        let l2 = self.p.l2;
        let mut scratch = vec![0u32; rows.len()];
        let (g, h) = rows.iter().fold((0.0, 0.0), |(g, h), &r| {
            let (gr, hr) = self.grad[r as usize];
            (g + gr, h + hr)
        });
        let mut root = Leaf {
            start: 0,
            end: rows.len(),
            depth: 0,
            lower: f64::NEG_INFINITY,
            upper: f64::INFINITY,
            stats: Stats {
                g,
                h,
                n: rows.len(),
            },
            hist: self.histogram(rows),
            best: None,
            node: 0,
        };
        root.best = self.best_split(&root);
        let mut nodes = vec![Node::Leaf {
            value: 0.0,
            rows: rows.len() as f64,
        }];
        let mut leaves = vec![root];
        while leaves.len() < self.p.max_leaves {
            // The leaf with the largest gain; ties go to the earliest.
            let Some(k) = (0..leaves.len())
                .filter(|&k| leaves[k].best.is_some())
                .fold(None, |best: Option<usize>, k| match best {
                    Some(b) if leaves[b].best.map(|c| c.gain) >= leaves[k].best.map(|c| c.gain) => {
                        Some(b)
                    }
                    _ => Some(k),
                })
            else {
                break;
            };
            let parent = leaves.swap_remove(k);
            let c = parent.best.expect("chosen leaves have a split");
            let col = &self.data.bins[c.feature];
            let left_rows = partition(&mut rows[parent.start..parent.end], &mut scratch, |i| {
                usize::from(col[i as usize]) <= c.bin
            });
            let mid = parent.start + left_rows;

            let (mut lower_l, mut upper_l, mut lower_r, mut upper_r) =
                (parent.lower, parent.upper, parent.lower, parent.upper);
            let m = self.monotone.get(c.feature).copied().unwrap_or(0);
            let midpoint = 0.5 * (c.left_value + c.right_value);
            if m > 0 {
                upper_l = midpoint;
                lower_r = midpoint;
            } else if m < 0 {
                lower_l = midpoint;
                upper_r = midpoint;
            }
            let (li, ri) = (nodes.len(), nodes.len() + 1);
            nodes[parent.node] = Node::Split {
                feature: c.feature,
                threshold: self.data.edges[c.feature][c.bin],
                left: li,
                right: ri,
                rows: parent.stats.n as f64,
            };
            for s in [c.left, c.right] {
                nodes.push(Node::Leaf {
                    value: 0.0,
                    rows: s.n as f64,
                });
            }
            // The smaller child's histogram is built; the larger one is the difference.
            let small_is_left = c.left.n <= c.right.n;
            let small_range = if small_is_left {
                parent.start..mid
            } else {
                mid..parent.end
            };
            let small_hist = self.histogram(&rows[small_range]);
            let mut large_hist = parent.hist;
            for (lf, sf) in large_hist.iter_mut().zip(&small_hist) {
                for (lb, sb) in lf.iter_mut().zip(sf) {
                    lb.g -= sb.g;
                    lb.h -= sb.h;
                    lb.n -= sb.n;
                }
            }
            let (left_hist, right_hist) = if small_is_left {
                (small_hist, large_hist)
            } else {
                (large_hist, small_hist)
            };
            for (start, end, stats, lower, upper, hist, node) in [
                (parent.start, mid, c.left, lower_l, upper_l, left_hist, li),
                (mid, parent.end, c.right, lower_r, upper_r, right_hist, ri),
            ] {
                let mut child = Leaf {
                    start,
                    end,
                    depth: parent.depth + 1,
                    lower,
                    upper,
                    stats,
                    hist,
                    best: None,
                    node,
                };
                child.best = self.best_split(&child);
                leaves.push(child);
            }
        }
        let mut ranges = Vec::with_capacity(leaves.len());
        for leaf in &leaves {
            let value = self.p.learning_rate * leaf_value(leaf.stats, l2, leaf.lower, leaf.upper);
            nodes[leaf.node] = Node::Leaf {
                value,
                rows: leaf.stats.n as f64,
            };
            ranges.push((leaf.start, leaf.end, value));
        }
        (Tree { nodes }, ranges)
    }
}

/// When the per-tree cap (`max_rows_per_tree`) draws the sample, rows are drawn in runs of
/// this many neighbours: a tree then reads a quarter of the binned rows' memory for a
/// quarter of the rows, not all of it. (`subsample` alone draws row by row.)
const SAMPLE_BLOCK: usize = 32;

/// SplitMix64's finaliser: a well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A node of a [`BinTree`]: a row goes to `left` when `(row[column] >> shift) & mask
/// <= bin`, else to `right`. A leaf points to itself both ways (its mask makes the code
/// 0), so a row that reaches it stays there.
struct BinNode {
    column: u32,
    shift: u8,
    mask: u8,
    bin: u8,
    left: u32,
    right: u32,
    value: f64,
}

/// A tree as tests on the bytes of [`Binned::by_row`], to route binned rows: the same
/// leaves as the tree's thresholds on the raw values give.
pub(crate) struct BinTree {
    nodes: Vec<BinNode>,
    /// Splits on the longest path from the root.
    depth: usize,
}

/// Rows [`BinTree::leaf_values`] routes together, one level at a time: their chains of
/// dependent loads overlap instead of following each other.
const ROUTE_LANES: usize = 8;

impl BinTree {
    pub(crate) fn new(tree: &Tree, data: &Binned) -> BinTree {
        let nodes = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match node {
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    let (column, shift, mask) = data.slots[*feature].decode();
                    BinNode {
                        column: column as u32,
                        shift,
                        mask,
                        bin: data.edges[*feature].partition_point(|&e| e < *threshold) as u8,
                        left: *left as u32,
                        right: *right as u32,
                        value: 0.0,
                    }
                }
                Node::Leaf { value, .. } => BinNode {
                    column: 0,
                    shift: 0,
                    mask: 0,
                    bin: 0,
                    left: i as u32,
                    right: i as u32,
                    value: *value,
                },
            })
            .collect();
        BinTree {
            nodes,
            depth: tree.depth(),
        }
    }

    /// `out[i]`: the leaf value row `first + i` of `data` reaches.
    pub(crate) fn leaf_values(&self, data: &Binned, first: usize, out: &mut [f64]) {
        for (c, chunk) in out.chunks_mut(ROUTE_LANES).enumerate() {
            self.lanes(data, first + c * ROUTE_LANES, chunk);
        }
    }

    /// [`BinTree::leaf_values`] for at most [`ROUTE_LANES`] rows, routed together.
    fn lanes(&self, data: &Binned, first: usize, out: &mut [f64]) {
        let width = data.width();
        let mut starts = [0usize; ROUTE_LANES];
        for (i, s) in starts.iter_mut().enumerate().take(out.len()) {
            *s = (first + i) * width;
        }
        let starts = &starts[..out.len()];
        let mut at = [0u32; ROUTE_LANES];
        for _ in 0..self.depth {
            for (i, &start) in at.iter_mut().zip(starts) {
                let node = &self.nodes[*i as usize];
                let code = (data.by_row[start + node.column as usize] >> node.shift) & node.mask;
                *i = if code <= node.bin {
                    node.left
                } else {
                    node.right
                };
            }
        }
        for (v, &i) in out.iter_mut().zip(&at) {
            *v = self.nodes[i as usize].value;
        }
    }
}

/// Rows per parallel task when binned rows are routed through a tree.
const ROUTE_BLOCK: usize = 4096;

/// Adds to `scores[r]` the leaf value row `r` of `data` reaches in `tree`, for every row
/// where `wanted(r)`.
fn add_leaf_values(
    tree: &BinTree,
    data: &Binned,
    scores: &mut [f64],
    wanted: impl Fn(usize) -> bool + Sync,
) {
    scores
        .par_chunks_mut(ROUTE_BLOCK)
        .enumerate()
        .for_each(|(b, scores)| {
            let first = b * ROUTE_BLOCK;
            let mut values = [0.0; ROUTE_LANES];
            for (c, scores) in scores.chunks_mut(ROUTE_LANES).enumerate() {
                let first = first + c * ROUTE_LANES;
                let rows = first..first + scores.len();
                // Lanes with no wanted row (a sampled block, in boosting) are not routed.
                if !rows.clone().any(&wanted) {
                    continue;
                }
                tree.lanes(data, first, &mut values[..scores.len()]);
                for (r, (s, v)) in rows.zip(scores.iter_mut().zip(values)) {
                    if wanted(r) {
                        *s += v;
                    }
                }
            }
        });
}

/// Log-odds of the rate of `y` (clamped away from 0 and 1).
pub fn base_score(y: &[bool]) -> f64 {
    let rate = y.iter().filter(|&&v| v).count() as f64 / y.len().max(1) as f64;
    let rate = rate.clamp(1e-6, 1.0 - 1e-6);
    (rate / (1.0 - rate)).ln()
}

/// Boosts trees on the binned rows `data` with labels `y`, starting from `offset` (one
/// raw score per row) or, without one, from the log-odds of the training rate.
/// `monotone[f]` is +1 (never decreasing in feature `f`), -1 or 0. With `valid`, stops
/// early and keeps the trees up to the best validation loss.
pub fn boost(
    data: &Binned,
    y: &[bool],
    offset: Option<&[f64]>,
    monotone: &[i8],
    p: &BoostParams,
    valid: Option<Validation>,
) -> Boosted {
    let n = y.len();
    let base = if offset.is_some() { 0.0 } else { base_score(y) };
    let mut raw: Vec<f64> = offset.map_or_else(|| vec![base; n], <[f64]>::to_vec);
    let mut valid_raw: Vec<f64> = valid.as_ref().map_or_else(Vec::new, |v| {
        v.offset
            .map_or_else(|| vec![base; v.y.len()], <[f64]>::to_vec)
    });
    // The validation rows binned like the training rows: they reach the same leaves as
    // their raw values would, through compact rows.
    let valid_binned = valid.as_ref().map(|v| data.bin_like(v.x));
    let mut grad = vec![(0.0, 0.0); n];
    let mut rows: Vec<u32> = (0..n as u32).collect();
    let cap = if p.max_rows_per_tree > 0 && n > p.max_rows_per_tree {
        p.max_rows_per_tree as f64 / n as f64
    } else {
        1.0
    };
    let fraction = p.subsample.min(cap);
    let block = if cap < p.subsample { SAMPLE_BLOCK } else { 1 };
    let sample = (fraction < 1.0).then_some((fraction * u64::MAX as f64) as u64);
    let mut trees = Vec::new();
    let mut losses = Vec::new();
    let (mut best_loss, mut best_round) = (f64::INFINITY, 0);
    for round in 0..p.rounds {
        // Blocks whose hash falls below the threshold make a round's sample, decided
        // once per round; only their rows need gradients.
        let blocks: Vec<bool> = match sample {
            Some(threshold) => (0..n.div_ceil(block) as u64)
                .map(|b| mix((round as u64) << 32 | b) < threshold)
                .collect(),
            None => Vec::new(),
        };
        let in_sample = |r: usize| sample.is_none() || blocks[r / block];
        grad.par_iter_mut()
            .zip(raw.par_iter().zip(y.par_iter()))
            .enumerate()
            .for_each(|(r, (gh, (&f, &y)))| {
                if in_sample(r) {
                    let prob = sigmoid(f);
                    *gh = (
                        prob - f64::from(u8::from(y)),
                        (prob * (1.0 - prob)).max(1e-16),
                    );
                }
            });
        let grower = Grower {
            data,
            grad: &grad,
            monotone,
            p,
        };
        if sample.is_some() {
            rows = (0..n as u32)
                .into_par_iter()
                .filter(|&r| in_sample(r as usize))
                .collect();
        }
        let (tree, ranges) = grower.grow(&mut rows);
        for (start, end, value) in ranges {
            for &r in &rows[start..end] {
                raw[r as usize] += value;
            }
        }
        let binned_tree = BinTree::new(&tree, data);
        if sample.is_some() {
            // Rows outside the sample reach their leaf through the tree.
            add_leaf_values(&binned_tree, data, &mut raw, |r| !in_sample(r));
        }
        if let (Some(v), Some(vb)) = (&valid, &valid_binned) {
            add_leaf_values(&binned_tree, vb, &mut valid_raw, |_| true);
            let probs: Vec<f64> = valid_raw.iter().map(|&f| sigmoid(f)).collect();
            let loss = log_loss(&probs, v.y);
            losses.push(loss);
            if loss < best_loss - 1e-12 {
                best_loss = loss;
                best_round = round + 1;
            }
        }
        let single_leaf = tree.nodes.len() == 1;
        trees.push(tree);
        if valid.is_some() && round + 1 - best_round >= p.early_stopping {
            break;
        }
        if single_leaf && sample.is_none() {
            // Nothing left to split: later rounds would only repeat tiny leaf shifts.
            // (A sample that could not split may be followed by one that can.)
            break;
        }
    }
    if valid.is_some() {
        trees.truncate(best_round);
    }
    Boosted {
        base,
        trees,
        validation_loss: losses,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn params() -> BoostParams {
        BoostParams {
            rounds: 60,
            learning_rate: 0.1,
            max_leaves: 15,
            max_depth: 6,
            min_leaf_rows: 20,
            min_leaf_hessian: 1e-3,
            l2: 1.0,
            min_gain: 0.0,
            early_stopping: 10,
            max_rows_per_tree: 0,
            subsample: 1.0,
        }
    }

    /// An XOR-like target a linear model cannot learn: risk is high when exactly one of
    /// two flags is set, and grows with a third (monotone) feature.
    fn data(n: usize, seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Array2::zeros((n, 3));
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let (a, b, c) = (
                f64::from(u8::from(rng.gen_bool(0.5))),
                f64::from(u8::from(rng.gen_bool(0.5))),
                rng.gen_range(0.0..1.0),
            );
            x[[i, 0]] = a;
            x[[i, 1]] = b;
            x[[i, 2]] = c;
            let logit = if (a > 0.5) != (b > 0.5) { 1.0 } else { -2.0 } + 1.5 * c;
            y.push(rng.gen_bool(sigmoid(logit)));
        }
        (x, y)
    }

    /// The ROC-AUC of `boosted` on the rows `x` with labels `y`.
    fn auc_on(boosted: &Boosted, x: &Array2<f64>, y: &[bool]) -> f64 {
        let probs: Vec<f64> = x
            .outer_iter()
            .map(|r| {
                let r = r.to_vec();
                sigmoid(boosted.base + boosted.trees.iter().map(|t| t.predict(&r)).sum::<f64>())
            })
            .collect();
        crate::metrics::roc_auc(&probs, y).unwrap()
    }

    #[test]
    fn histograms_of_bundled_rows_equal_direct_sums() {
        // Flags (bundled by bits) and many-valued columns, over a scattered subset of
        // rows larger than one histogram block.
        let n = 40_000;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x = Array2::from_shape_fn((n, 9), |(_, f)| {
            if f % 3 == 0 {
                rng.gen_range(0.0..50.0)
            } else {
                f64::from(u8::from(rng.gen_bool(0.2)))
            }
        });
        let data = Binned::new(x.view(), 64);
        let grad: Vec<(f64, f64)> = (0..n)
            .map(|_| (rng.gen_range(-1.0..1.0), rng.gen_range(0.0..0.25)))
            .collect();
        let rows: Vec<u32> = (0..n as u32).filter(|r| r % 3 != 1).collect();
        let p = params();
        let grower = Grower {
            data: &data,
            grad: &grad,
            monotone: &[0; 9],
            p: &p,
        };
        let hist = grower.histogram(&rows);
        for (f, feature) in hist.iter().enumerate() {
            assert_eq!(feature.len(), data.bin_count(f));
            for (b, bin) in feature.iter().enumerate() {
                let mut want = Bin::default();
                for &r in &rows {
                    if usize::from(data.bins[f][r as usize]) == b {
                        add(
                            &mut want,
                            &Bin {
                                g: grad[r as usize].0,
                                h: grad[r as usize].1,
                                n: 1,
                            },
                        );
                    }
                }
                assert_eq!(bin.n, want.n, "feature {f} bin {b}");
                assert!((bin.g - want.g).abs() < 1e-9 && (bin.h - want.h).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn binned_rows_route_like_raw_values() {
        let (mut x, y) = data(6000, 4);
        // A many-valued column next to the flags, so both kinds of slot are split on.
        for (i, mut row) in x.outer_iter_mut().enumerate() {
            row[1] += (i % 5) as f64;
        }
        let data = Binned::new(x.view(), 64);
        let boosted = boost(&data, &y, None, &[0, 0, 0], &params(), None);
        for tree in &boosted.trees {
            // An odd number of rows: the last group of lanes is partly filled.
            let rows = x.nrows() - 3;
            let mut values = vec![0.0; rows];
            BinTree::new(tree, &data).leaf_values(&data, 0, &mut values);
            for (row, value) in x.outer_iter().zip(values) {
                assert_eq!(value, tree.predict(&row.to_vec()));
            }
        }
    }

    #[test]
    fn partition_is_stable_and_in_place() {
        let mut rows: Vec<u32> = (0..1000).map(|i| (i * 7919) % 1000).collect();
        let want: (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&i| i % 3 == 0);
        let mut scratch = vec![0; rows.len()];
        let left = partition(&mut rows, &mut scratch, |i| i % 3 == 0);
        assert_eq!(left, want.0.len());
        assert_eq!(rows[..left], want.0[..]);
        assert_eq!(rows[left..], want.1[..]);
    }

    #[test]
    fn learns_an_interaction_a_linear_model_cannot() {
        let (x, y) = data(8000, 1);
        let (xv, yv) = data(4000, 2);
        let binned = Binned::new(x.view(), 64);
        let boosted = boost(
            &binned,
            &y,
            None,
            &[0, 0, 0],
            &params(),
            Some(Validation {
                x: xv.view(),
                y: &yv,
                offset: None,
            }),
        );
        let auc = auc_on(&boosted, &xv, &yv);
        // The truth's own AUC on this design is about 0.78; a linear model gets ~0.6.
        assert!(auc > 0.74, "AUC {auc}");
        assert!(!boosted.trees.is_empty() && boosted.trees.len() <= 60);
    }

    #[test]
    fn trees_grown_from_row_samples_still_learn_and_repeat_exactly() {
        let (x, y) = data(8000, 1);
        let (xv, yv) = data(4000, 2);
        let binned = Binned::new(x.view(), 64);
        let p = BoostParams {
            max_rows_per_tree: 2000,
            ..params()
        };
        let fit = || {
            boost(
                &binned,
                &y,
                None,
                &[0, 0, 0],
                &p,
                Some(Validation {
                    x: xv.view(),
                    y: &yv,
                    offset: None,
                }),
            )
        };
        let boosted = fit();
        // A tree's root covers about a quarter of the rows, not all of them.
        let Node::Split { rows, .. } = boosted.trees[0].nodes[0] else {
            panic!("the first tree splits");
        };
        assert!((1700.0..2300.0).contains(&rows), "root rows {rows}");
        let auc = auc_on(&boosted, &xv, &yv);
        assert!(auc > 0.72, "AUC {auc}");
        assert_eq!(fit().trees, boosted.trees);
    }

    #[test]
    fn trees_grown_from_half_the_rows_learn_and_repeat_exactly() {
        let (x, y) = data(8000, 1);
        let (xv, yv) = data(4000, 2);
        let binned = Binned::new(x.view(), 64);
        let fit = |subsample: f64| {
            let p = BoostParams {
                subsample,
                ..params()
            };
            let valid = Validation {
                x: xv.view(),
                y: &yv,
                offset: None,
            };
            boost(&binned, &y, None, &[0, 0, 0], &p, Some(valid))
        };
        let half = fit(0.5);
        // Each root covers about half the rows, a different half each round.
        let roots: Vec<f64> = half
            .trees
            .iter()
            .take(5)
            .map(|t| match t.nodes[0] {
                Node::Split { rows, .. } => rows,
                Node::Leaf { rows, .. } => rows,
            })
            .collect();
        assert!(
            roots.iter().all(|r| (3700.0..4300.0).contains(r)),
            "{roots:?}"
        );
        assert!(roots.windows(2).any(|w| w[0] != w[1]), "{roots:?}");
        assert!(auc_on(&half, &xv, &yv) > 0.74);
        assert_eq!(fit(0.5).trees, half.trees);
        // 1 grows every tree from every row.
        let Node::Split { rows, .. } = fit(1.0).trees[0].nodes[0] else {
            panic!("the first tree splits");
        };
        assert_eq!(rows, 8000.0);
    }

    #[test]
    fn a_sample_too_small_to_split_does_not_end_boosting() {
        // Half of 800 rows cannot make two leaves of 300: with every row a tree could.
        let (x, y) = data(800, 4);
        let binned = Binned::new(x.view(), 64);
        let p = BoostParams {
            rounds: 20,
            min_leaf_rows: 300,
            subsample: 0.5,
            ..params()
        };
        let boosted = boost(&binned, &y, None, &[0, 0, 0], &p, None);
        assert_eq!(boosted.trees.len(), 20);
        // With every row, the first tree that cannot split ends it.
        let p = BoostParams {
            min_leaf_rows: 500,
            subsample: 1.0,
            ..p
        };
        assert_eq!(
            boost(&binned, &y, None, &[0, 0, 0], &p, None).trees.len(),
            1
        );
        // No rows in a round's sample and no penalty: every leaf is a number.
        let p = BoostParams {
            subsample: 1e-9,
            l2: 0.0,
            ..params()
        };
        let empty = boost(&binned, &y, None, &[0, 0, 0], &p, None);
        assert!(empty.trees.iter().all(|t| t.nodes.iter().all(|n| match n {
            Node::Leaf { value, .. } => value.is_finite(),
            Node::Split { .. } => true,
        })));
    }

    #[test]
    fn monotone_constraint_holds_on_the_fitted_trees() {
        // Feature 2 truly raises the risk, but a decreasing wiggle is planted in
        // the labels; constrained to +1, no tree may lower the score as it grows.
        let (x, mut y) = data(6000, 3);
        for (i, row) in x.outer_iter().enumerate() {
            if (0.4..0.6).contains(&row[2]) && i % 2 == 0 {
                y[i] = false;
            }
        }
        let binned = Binned::new(x.view(), 64);
        let boosted = boost(&binned, &y, None, &[0, 0, 1], &params(), None);
        for a in [0.0, 1.0] {
            for b in [0.0, 1.0] {
                let mut last = f64::NEG_INFINITY;
                for k in 0..=100 {
                    let row = [a, b, k as f64 / 100.0];
                    let score: f64 = boosted.trees.iter().map(|t| t.predict(&row)).sum();
                    assert!(score >= last - 1e-12, "score fell at c = {}", row[2]);
                    last = score;
                }
            }
        }
    }
}
