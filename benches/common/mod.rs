//! What the benchmarks share: the sweep of history sizes.

/// History sizes of the sweep.
const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

/// The sizes to measure: `CHANGERISK_BENCH_SIZES=10000,100000` restricts the sweep.
pub fn sizes() -> Vec<usize> {
    match std::env::var("CHANGERISK_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("CHANGERISK_BENCH_SIZES: '{s}' is not a size"))
            })
            .collect(),
        Err(_) => SIZES.to_vec(),
    }
}
