//! Histogram binning: each feature's values are cut into at most 256 ordered bins once,
//! so that finding a split scans bins instead of sorting rows.
//!
//! A split "bin ≤ b" is stored as the threshold `edges[b]` on the raw value, and a value
//! `x` falls in bin `#{edges < x}`, so `bin(x) ≤ b ⟺ x ≤ edges[b]`: the tree routes a
//! training row exactly as the binned data did. A missing value (NaN) falls in the last
//! bin, above every edge, and the tree (`x ≤ threshold` is false) sends it right too.

use ndarray::ArrayView2;
use rayon::prelude::*;

/// Rows read to place the bin edges of a feature (evenly spaced through the data).
const EDGE_SAMPLE: usize = 200_000;

/// Rows per block when the row-major codes are written.
const ROW_BLOCK: usize = 1 << 14;

/// Most two-bin features packed into one byte of [`Binned::by_row`].
const BUNDLE_BITS: u8 = 6;

/// Where a feature's code sits in a row of [`Binned::by_row`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// The whole byte of histogram column `.0`.
    Own(usize),
    /// Bit `.1` of histogram column `.0`: a two-bin feature (a flag), bundled with others.
    Bit(usize, u8),
}

impl Slot {
    /// The histogram column, shift and mask: the code is `(row[column] >> shift) & mask`.
    pub fn decode(self) -> (usize, u8, u8) {
        match self {
            Slot::Own(c) => (c, 0, u8::MAX),
            Slot::Bit(c, bit) => (c, bit, 1),
        }
    }
}

/// The binned training matrix, twice: one column of bin codes per feature (splits read
/// one feature of many rows) and row by row (histograms read a whole row at once: one
/// cache line, however scattered a leaf's rows are).
///
/// In the row-major copy, two-bin features are bundled, up to 6 (`BUNDLE_BITS`) to a byte:
/// a histogram counts the byte's combinations of flags, and each flag's two bins are
/// recovered from them, so a row costs one addition per byte, not one per flag.
pub struct Binned {
    /// `bins[f][row]`.
    pub bins: Vec<Vec<u8>>,
    /// `slots[f]`: where feature `f` sits in a row of `by_row`.
    pub slots: Vec<Slot>,
    /// `by_row[row * width + c]`: histogram column `c` of the row (`width` columns).
    pub by_row: Vec<u8>,
    /// `offsets[c]`: where histogram column `c`'s bins start in a histogram of every
    /// column; `offsets[width]` is the histogram's length.
    pub offsets: Vec<usize>,
    /// `edges[f]`: ascending thresholds; feature `f` has `edges[f].len() + 1` bins.
    pub edges: Vec<Vec<f64>>,
    pub rows: usize,
}

impl Binned {
    /// Bins every column of `x` into at most `max_bins` (2..=256) bins.
    pub fn new(x: ArrayView2<f64>, max_bins: usize) -> Binned {
        let max_bins = max_bins.clamp(2, 256);
        let edges = (0..x.ncols())
            .into_par_iter()
            .map(|f| edges_of(&x.column(f).to_vec(), max_bins))
            .collect();
        Binned::with_edges(x, edges)
    }

    /// The rows `x` cut at `edges` (one list per column).
    fn with_edges(x: ArrayView2<f64>, edges: Vec<Vec<f64>>) -> Binned {
        let bins = edges
            .par_iter()
            .enumerate()
            .map(|(f, edges)| x.column(f).iter().map(|&v| bin_of(edges, v)).collect())
            .collect();
        Binned::assemble(bins, edges, x.nrows())
    }

    fn assemble(bins: Vec<Vec<u8>>, edges: Vec<Vec<f64>>, rows: usize) -> Binned {
        // Histogram columns: one per feature, except that two-bin features share bytes.
        let mut slots = Vec::with_capacity(edges.len());
        let mut column_bins: Vec<usize> = Vec::new();
        let mut open: Option<(usize, u8)> = None;
        for e in &edges {
            if e.len() == 1 {
                let (column, bit) = match open {
                    Some((column, bit)) if bit < BUNDLE_BITS => (column, bit),
                    _ => {
                        column_bins.push(0);
                        (column_bins.len() - 1, 0)
                    }
                };
                column_bins[column] = 1 << (bit + 1);
                slots.push(Slot::Bit(column, bit));
                open = Some((column, bit + 1));
            } else {
                column_bins.push(e.len() + 1);
                slots.push(Slot::Own(column_bins.len() - 1));
            }
        }
        let width = column_bins.len();
        let mut by_row = vec![0u8; rows * width];
        if width > 0 {
            by_row
                .par_chunks_mut(ROW_BLOCK * width)
                .enumerate()
                .for_each(|(block, out)| {
                    let first = block * ROW_BLOCK;
                    for (i, row) in out.chunks_exact_mut(width).enumerate() {
                        for (slot, column) in slots.iter().zip(&bins) {
                            let code = column[first + i];
                            match *slot {
                                Slot::Own(c) => row[c] = code,
                                Slot::Bit(c, bit) => row[c] |= code << bit,
                            }
                        }
                    }
                });
        }
        let mut offsets = Vec::with_capacity(width + 1);
        offsets.push(0);
        for b in column_bins {
            offsets.push(offsets.last().copied().unwrap_or(0) + b);
        }
        Binned {
            bins,
            slots,
            by_row,
            offsets,
            edges,
            rows,
        }
    }

    /// Row `r` of `by_row`.
    pub fn row(&self, r: usize) -> &[u8] {
        let width = self.width();
        &self.by_row[r * width..(r + 1) * width]
    }

    /// Other rows `x` (same columns) binned with these edges, in the same layout.
    pub fn bin_like(&self, x: ArrayView2<f64>) -> Binned {
        Binned::with_edges(x, self.edges.clone())
    }

    /// Histogram columns per row of `by_row`.
    pub fn width(&self) -> usize {
        self.offsets.len() - 1
    }

    /// No features: for learners that do not bin.
    pub fn empty(rows: usize) -> Binned {
        Binned::assemble(Vec::new(), Vec::new(), rows)
    }

    /// The rows `range` only, with the same bins.
    pub fn rows(&self, range: std::ops::Range<usize>) -> Binned {
        Binned::assemble(
            self.bins
                .iter()
                .map(|b| b[range.clone()].to_vec())
                .collect(),
            self.edges.clone(),
            range.len(),
        )
    }

    /// Number of bins of feature `f`.
    pub fn bin_count(&self, f: usize) -> usize {
        self.edges[f].len() + 1
    }

    pub fn features(&self) -> usize {
        self.edges.len()
    }
}

/// The bin of `v` given ascending `edges`.
pub fn bin_of(edges: &[f64], v: f64) -> u8 {
    if v.is_nan() {
        return edges.len() as u8;
    }
    edges.partition_point(|&e| e < v) as u8
}

/// How close two values must be to count as one, relative to the larger of their own
/// magnitude and the column's typical one ([`typical_magnitude`]): far
/// above the last-bit differences of one quantity computed two ways (about 1e-16), far
/// below any difference a feature means.
const SAME_VALUE: f64 = 1e-12;

/// Bin edges: midpoints between neighbouring values when there are few enough, otherwise
/// evenly spaced quantiles of a sample (at most `max_bins - 1` edges), each moved halfway
/// to the next larger value. Values within [`SAME_VALUE`] of the lowest of a run count as
/// one.
///
/// So no edge, and no split threshold, lies on or within rounding of a value of the
/// column (edges placed from a sample are settled against every row, [`settle`]): the
/// same feature computed again
/// elsewhere (another platform's `ln_1p` or `cos`, another program, a SQL engine) may
/// differ from this one in the last bits (`sin` of pi is 1.2e-16, not 0), and a
/// threshold there would send those rows the other way.
pub(crate) fn edges_of(column: &[f64], max_bins: usize) -> Vec<f64> {
    let step = column.len().div_ceil(EDGE_SAMPLE).max(1);
    let mut sample: Vec<f64> = column
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    sample.sort_by(f64::total_cmp);
    let typical = typical_magnitude(&sample);
    let same = |low: f64, v: f64| {
        v == low
            || (v.is_finite()
                && low.is_finite()
                && v - low <= SAME_VALUE * v.abs().max(low.abs()).max(typical))
    };
    // Runs of values each within the tolerance of the run's lowest: (lowest, highest).
    let mut groups: Vec<(f64, f64)> = Vec::new();
    for &v in &sample {
        match groups.last_mut() {
            Some(group) if same(group.0, v) => group.1 = v,
            _ => groups.push((v, v)),
        }
    }
    let between = |i: usize| groups[i].1 / 2.0 + groups[i + 1].0 / 2.0;
    let edges = if groups.len() <= max_bins {
        (0..groups.len().saturating_sub(1)).map(between).collect()
    } else {
        let mut cuts: Vec<usize> = (1..max_bins)
            .map(|k| sample[k * sample.len() / max_bins - 1])
            .map(|v| groups.partition_point(|g| g.1 < v))
            .filter(|&i| i + 1 < groups.len())
            .collect();
        cuts.dedup();
        cuts.into_iter().map(between).collect()
    };
    if step > 1 {
        settle(edges, column, same)
    } else {
        edges
    }
}

/// Edges placed from a sample, each moved halfway between the nearest values of the whole
/// `column` on either side of it (a row the sample skipped may lie on the edge, or within
/// rounding of it), and dropped where those two count as one value (`same`) or one side
/// is empty.
fn settle(edges: Vec<f64>, column: &[f64], same: impl Fn(f64, f64) -> bool) -> Vec<f64> {
    // Each bin's lowest and highest value.
    let mut span: Vec<Option<(f64, f64)>> = vec![None; edges.len() + 1];
    for &v in column.iter().filter(|v| !v.is_nan()) {
        let bin = &mut span[edges.partition_point(|&e| e < v)];
        *bin = Some(bin.map_or((v, v), |(low, high)| (low.min(v), high.max(v))));
    }
    // The highest value at or below each edge, then the lowest above it.
    let below: Vec<Option<f64>> = span[..edges.len()]
        .iter()
        .scan(None, |highest: &mut Option<f64>, bin| {
            *highest = match (*highest, bin) {
                (Some(h), Some((_, high))) => Some(h.max(*high)),
                (h, b) => h.or(b.map(|(_, high)| high)),
            };
            Some(*highest)
        })
        .collect();
    let mut settled = Vec::with_capacity(edges.len());
    let mut lowest: Option<f64> = None;
    for (bin, below) in span[1..].iter().zip(below).rev() {
        lowest = match (lowest, bin) {
            (Some(l), Some((low, _))) => Some(l.min(*low)),
            (l, b) => l.or(b.map(|(low, _)| low)),
        };
        if let (Some(below), Some(above)) = (below, lowest) {
            if !same(below, above) {
                let edge = below / 2.0 + above / 2.0;
                debug_assert!(below <= edge && edge < above, "{below} {edge} {above}");
                settled.push(edge);
            }
        }
    }
    settled.reverse();
    settled.dedup();
    settled
}

/// The 99th percentile of the finite non-zero values' magnitudes (0 when there are
/// none): a scale that neither one extreme value nor a mass of zeros sets.
fn typical_magnitude(values: &[f64]) -> f64 {
    let mut magnitudes: Vec<f64> = values
        .iter()
        .filter(|v| v.is_finite() && **v != 0.0)
        .map(|v| v.abs())
        .collect();
    if magnitudes.is_empty() {
        return 0.0;
    }
    let k = (magnitudes.len() - 1) * 99 / 100;
    *magnitudes.select_nth_unstable_by(k, f64::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn flags_share_bytes_and_every_code_reads_back() {
        // Ten flags around two many-valued columns: the flags fill two bytes (6 + 4).
        let (n, features) = (500, 12);
        let x = Array2::from_shape_fn((n, features), |(i, f)| match f {
            3 => (i % 37) as f64,
            8 => ((i * 7919) % 101) as f64 / 7.0,
            _ => f64::from(u8::from((i * (f + 3)) % (f + 5) == 0)),
        });
        let b = Binned::new(x.view(), 64);
        assert_eq!(b.width(), 4);
        let bits = b
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Bit(..)))
            .count();
        assert_eq!(bits, 10);
        assert!(matches!(b.slots[3], Slot::Own(_)) && matches!(b.slots[8], Slot::Own(_)));
        for r in 0..n {
            let row = &b.by_row[r * b.width()..(r + 1) * b.width()];
            for f in 0..features {
                let (column, shift, mask) = b.slots[f].decode();
                assert_eq!(
                    (row[column] >> shift) & mask,
                    b.bins[f][r],
                    "row {r} feature {f}"
                );
            }
        }
        // A slice of the rows keeps the layout.
        let part = b.rows(100..200);
        assert_eq!(part.slots, b.slots);
        assert_eq!(part.by_row[..], b.by_row[100 * 4..200 * 4]);
    }

    #[test]
    fn bins_route_like_thresholds() {
        let values: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 613) as f64 / 3.0).collect();
        let x = Array2::from_shape_vec((1000, 1), values.clone()).unwrap();
        let b = Binned::new(x.view(), 16);
        assert!(b.bin_count(0) <= 16);
        for (i, &v) in values.iter().enumerate() {
            for (k, &t) in b.edges[0].iter().enumerate() {
                assert_eq!(usize::from(b.bins[0][i]) <= k, v <= t);
            }
        }
    }

    #[test]
    fn edges_lie_halfway_between_the_values_they_separate() {
        // Many distinct values (quantile edges) and few (one bin each), with repeats.
        for (values, bins) in [
            (
                (0..5000)
                    .map(|i| ((i * 7919) % 1013) as f64 * 0.37)
                    .collect::<Vec<_>>(),
                64,
            ),
            ((0..5000).map(|i| f64::from(i % 9) / 3.0).collect(), 64),
        ] {
            let mut distinct = values.clone();
            distinct.sort_by(f64::total_cmp);
            distinct.dedup();
            let x = Array2::from_shape_vec((values.len(), 1), values).unwrap();
            let edges = &Binned::new(x.view(), bins).edges[0];
            assert!(edges.len() > 1);
            for &e in edges {
                let above = distinct.partition_point(|&d| d <= e);
                assert!(
                    above > 0 && above < distinct.len(),
                    "edge {e} outside the data"
                );
                let (below, above) = (distinct[above - 1], distinct[above]);
                assert_eq!(
                    e,
                    below / 2.0 + above / 2.0,
                    "edge {e} between {below} and {above}"
                );
            }
        }
    }

    #[test]
    fn edges_placed_from_a_sample_avoid_the_rows_it_skipped() {
        // More rows than the sample reads: the sampled rows hold whole numbers, the
        // skipped ones whole numbers plus a half, just where the sample's midpoints fall.
        let rows = 2 * EDGE_SAMPLE + 1;
        let step = rows.div_ceil(EDGE_SAMPLE);
        let values: Vec<f64> = (0..rows)
            .map(|i| (i % 1000) as f64 + if i % step == 0 { 0.0 } else { 0.5 })
            .collect();
        let x = Array2::from_shape_vec((rows, 1), values.clone()).unwrap();
        let b = Binned::new(x.view(), 64);
        assert!(b.bin_count(0) > 32, "{:?}", b.edges[0]);
        let mut distinct = values;
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        for &e in &b.edges[0] {
            let above = distinct.partition_point(|&d| d <= e);
            let (below, above) = (distinct[above - 1], distinct[above]);
            assert_eq!(e, below / 2.0 + above / 2.0, "edge {e}");
        }
        // A run the sample skipped, whose values differ only in the last bits, sits where
        // the sample's midpoints fall: no edge may cut it.
        let values: Vec<f64> = (0..rows)
            .map(|i| match (i % step, i % 7) {
                (0, _) => (i % 500) as f64,
                (_, 0) => 250.5,
                _ => 250.5_f64.next_up(),
            })
            .collect();
        let x = Array2::from_shape_vec((rows, 1), values).unwrap();
        let edges = &Binned::new(x.view(), 256).edges[0];
        assert!(edges.len() > 100, "{edges:?}");
        assert_eq!(
            bin_of(edges, 250.5_f64.next_up()),
            bin_of(edges, 250.5),
            "{edges:?}"
        );
        assert!(edges.windows(2).all(|w| w[0] < w[1]));
        // Missing values beside them, or nothing but missing values.
        let values: Vec<f64> = (0..rows)
            .map(|i| {
                if i % 5 == 1 {
                    f64::NAN
                } else {
                    (i % 300) as f64
                }
            })
            .collect();
        let mut distinct: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let x = Array2::from_shape_vec((rows, 1), values).unwrap();
        let edges = &Binned::new(x.view(), 64).edges[0];
        assert!(edges.len() > 32, "{edges:?}");
        for &e in edges {
            let above = distinct.partition_point(|&d| d <= e);
            assert_eq!(
                e,
                distinct[above - 1] / 2.0 + distinct[above] / 2.0,
                "edge {e}"
            );
        }
        let x = Array2::from_elem((rows, 1), f64::NAN);
        assert!(Binned::new(x.view(), 64).edges[0].is_empty());
    }

    #[test]
    fn values_apart_only_in_the_last_bits_share_a_bin() {
        // One quantity computed two ways (sin of 3 pi against 0, a sum in two orders):
        // no edge may fall between the two, in either regime.
        let noisy = |v: f64, i: usize| match i % 3 {
            0 => v,
            1 => v.next_up(),
            _ => v.next_down().next_down(),
        };
        for (many, bins) in [(1000, 16), (8, 64)] {
            let values: Vec<f64> = (0..6000)
                .map(|i| noisy(((i * 7919) % many) as f64 / 7.0, i / many))
                .chain([(3.0_f64 * std::f64::consts::PI).sin(), 0.0, -2.4e-16])
                .collect();
            let x = Array2::from_shape_vec((values.len(), 1), values.clone()).unwrap();
            let b = Binned::new(x.view(), bins);
            assert!(b.bin_count(0) > 2);
            for &v in &values {
                let bin = bin_of(&b.edges[0], v);
                assert_eq!(
                    bin_of(&b.edges[0], v.next_up()),
                    bin,
                    "{v} at {:?}",
                    b.edges[0]
                );
                assert_eq!(
                    bin_of(&b.edges[0], v.next_down()),
                    bin,
                    "{v} at {:?}",
                    b.edges[0]
                );
            }
        }
    }

    #[test]
    fn one_extreme_value_or_repeated_infinities_do_not_merge_the_rest() {
        // The integers 0..1000 keep their own bins beside one value of 1e13 (the scale
        // of "the same value" is the column's typical magnitude, not its largest).
        let mut values: Vec<f64> = (0..1000).map(f64::from).collect();
        values.push(1e13);
        let x = Array2::from_shape_vec((values.len(), 1), values).unwrap();
        let edges = &Binned::new(x.view(), 256).edges[0];
        assert_eq!(edges.len(), 255);
        assert!(edges[..254].iter().all(|e| e.fract() == 0.5), "{edges:?}");
        // Nor beside a mass of zeros: 0, 1, 2 and 3 stay apart from each other.
        let values: Vec<f64> = (0..1000)
            .map(|i| if i < 990 { 0.0 } else { f64::from(i % 4) })
            .chain([1e13])
            .collect();
        let x = Array2::from_shape_vec((values.len(), 1), values).unwrap();
        assert_eq!(
            Binned::new(x.view(), 64).edges[0],
            vec![0.5, 1.5, 2.5, 3.0 / 2.0 + 1e13 / 2.0]
        );
        // Repeated infinities are one value each.
        let values = [
            0.0,
            1.0,
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        let x = Array2::from_shape_vec((values.len(), 1), values.to_vec()).unwrap();
        let edges = &Binned::new(x.view(), 64).edges[0];
        assert_eq!(edges.len(), 3, "{edges:?}");
        assert_eq!(edges[1], 0.5);
    }

    #[test]
    fn few_distinct_values_get_one_bin_each_and_nan_goes_last() {
        let x = Array2::from_shape_vec((5, 1), vec![0.0, 1.0, 1.0, 0.0, f64::NAN]).unwrap();
        let b = Binned::new(x.view(), 256);
        assert_eq!(b.edges[0], vec![0.5]);
        assert_eq!(b.bins[0], vec![0, 1, 1, 0, 1]);
    }
}
