#!/usr/bin/env bash
# Training speed (issue 4, "Training speed"): `changerisk train` against LightGBM and
# scikit-learn's LogisticRegression on the same design matrix, in one run.
#
#   benches/train_speed.sh        # the 1M-change history of benches/compare.sh
#
# The matrix is changerisk's own: `changerisk export` writes every model feature's value
# (`feature_<name>`) and the label of each history change, and benches/train_speed.py
# fits the other libraries on exactly those columns, doing the same model selection
# changerisk does (rolling-origin folds over the most recent 100k rows, the same
# candidates, early stopping, refit on every row), and, for reference, one plain fit.
# changerisk's time includes reading the CSV files, labelling and building features;
# theirs starts from the matrix in memory.
#
# Environment (all optional):
#   BENCH_N      history changes (default 1000000)
#   BENCH_RUNS   runs of each command; the median is reported (default 3)
#   BENCH_DIR    data (default /tmp/changerisk-bench; reused from benches/compare.sh)
#   VENV         Python venv with numpy, pandas, pyarrow, scikit-learn, lightgbm
#                (default /work/bench-venv-q; created and filled if missing)
#   CHANGERISK   the changerisk binary (default $CARGO_TARGET_DIR or
#                ./target, release)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-/tmp/changerisk-bench}
venv=${VENV:-/work/bench-venv-q}
bin=${CHANGERISK:-${CARGO_TARGET_DIR:-$repo/target}/release/changerisk}
[[ -x "$bin" ]] || { echo "no changerisk binary at $bin (cargo build --release)" >&2; exit 2; }
if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy, pandas, pyarrow, sklearn, lightgbm' 2>/dev/null; then
    "$venv/bin/pip" install --quiet numpy pandas pyarrow scikit-learn lightgbm
fi
mkdir -p "$dir"
data="$dir/train-$n"
if [[ ! -f "$data/changes.csv" ]]; then
    echo "generating $n changes into $data" >&2
    "$bin" generate --quiet --changes "$n" --new-changes 10 --output-dir "$data"
fi

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
timed() { # prints "wall_seconds peak_kib" of a command
    /usr/bin/time -f '%e %M' -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/stderr.txt" \
        || { cat "$dir/stderr.txt" >&2; exit 1; }
    cat "$dir/time.txt"
}

declare -A wall
for learner in logistic gbdt auto; do
    for ((r = 0; r < runs; r++)); do
        read -r s kib < <(timed "$bin" train --quiet --learner "$learner" \
            --changes "$data/changes.csv" --incidents "$data/incidents.csv" \
            --model "$data/model-$learner.json")
        echo "changerisk train --learner $learner: run $((r + 1)) ${s} s, peak $((kib / 1024)) MiB" >&2
        wall[$learner]+="$s"$'\n'
    done
done

echo "exporting the design matrix" >&2
"$bin" export --quiet --model "$data/model-gbdt.json" --changes "$data/changes.csv" \
    --incidents "$data/incidents.csv" --output "$data/export" --format parquet

"$venv/bin/python" "$repo/benches/train_speed.py" --table "$data/export/changes.parquet" \
    --model "$data/model-gbdt.json" --runs "$runs" >"$dir/train_speed.json"

echo
echo "## train on $n changes, medians of $runs runs ($(nproc) cores)"
echo
echo "| | changerisk \`train\` (from CSV) | same selection on the same matrix | one plain fit |"
echo "|---|---:|---:|---:|"
py="$venv/bin/python"
for learner in logistic gbdt; do
    ours=$(printf '%s' "${wall[$learner]}" | median)
    "$py" - "$dir/train_speed.json" "$learner" "$ours" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))[sys.argv[2]]
name = {"logistic": "logistic: scikit-learn LogisticRegression (lbfgs)", "gbdt": "trees: LightGBM"}[sys.argv[2]]
print(f"| {name} | {float(sys.argv[3]):.1f} s | {d['selection_median']:.1f} s | {d['single_median']:.1f} s |")
EOF
done
echo "| auto (logistic, trees and blends) | $(printf '%s' "${wall[auto]}" | median) s | | |"
