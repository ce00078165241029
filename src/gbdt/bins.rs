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

/// The binned training matrix, one column of bin codes per feature.
pub struct Binned {
    /// `bins[f][row]`.
    pub bins: Vec<Vec<u8>>,
    /// `common[f]`: feature `f`'s most frequent bin. Histograms skip it (most rows of a
    /// flag fall in one bin) and recover it as the leaf's total minus the other bins.
    pub common: Vec<u8>,
    /// `edges[f]`: ascending thresholds; feature `f` has `edges[f].len() + 1` bins.
    pub edges: Vec<Vec<f64>>,
    pub rows: usize,
}

impl Binned {
    /// Bins every column of `x` into at most `max_bins` (2..=256) bins.
    pub fn new(x: ArrayView2<f64>, max_bins: usize) -> Binned {
        let max_bins = max_bins.clamp(2, 256);
        let rows = x.nrows();
        let (bins, edges) = (0..x.ncols())
            .into_par_iter()
            .map(|f| {
                let column: Vec<f64> = x.column(f).to_vec();
                let edges = edges_of(&column, max_bins);
                let bins = column.iter().map(|&v| bin_of(&edges, v)).collect();
                (bins, edges)
            })
            .unzip();
        Binned::assemble(bins, edges, rows)
    }

    fn assemble(bins: Vec<Vec<u8>>, edges: Vec<Vec<f64>>, rows: usize) -> Binned {
        let common = bins
            .par_iter()
            .zip(&edges)
            .map(|(column, e)| {
                let mut counts = vec![0usize; e.len() + 1];
                for &c in column {
                    counts[usize::from(c)] += 1;
                }
                // The first of the most frequent bins.
                (0..counts.len()).fold(0, |best, b| if counts[b] > counts[best] { b } else { best })
                    as u8
            })
            .collect();
        Binned {
            bins,
            common,
            edges,
            rows,
        }
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

/// Bin edges: midpoints between neighbouring distinct values when there are few enough,
/// otherwise values at evenly spaced quantiles of a sample (at most `max_bins - 1` edges).
fn edges_of(column: &[f64], max_bins: usize) -> Vec<f64> {
    let step = column.len().div_ceil(EDGE_SAMPLE).max(1);
    let mut sample: Vec<f64> = column
        .iter()
        .step_by(step)
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    sample.sort_by(f64::total_cmp);
    let mut distinct = sample.clone();
    distinct.dedup();
    if distinct.len() <= max_bins {
        return distinct
            .windows(2)
            .map(|w| w[0] / 2.0 + w[1] / 2.0)
            .collect();
    }
    let top = distinct[distinct.len() - 1];
    let mut edges: Vec<f64> = (1..max_bins)
        .map(|k| sample[k * sample.len() / max_bins - 1])
        .filter(|&e| e < top)
        .collect();
    edges.dedup();
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

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
    fn few_distinct_values_get_one_bin_each_and_nan_goes_last() {
        let x = Array2::from_shape_vec((5, 1), vec![0.0, 1.0, 1.0, 0.0, f64::NAN]).unwrap();
        let b = Binned::new(x.view(), 256);
        assert_eq!(b.edges[0], vec![0.5]);
        assert_eq!(b.bins[0], vec![0, 1, 1, 0, 1]);
    }
}
