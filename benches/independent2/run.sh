#!/bin/sh
# A second held-out quality check: histories from benches/independent2/gen.py (written by a
# helper session from SPEC.md alone; neither `changerisk generate` nor
# benches/independent_gen.py), 200k changes, time-ordered 80/20 by `changerisk evaluate`,
# against scikit-learn logistic regression and LightGBM on the raw columns and the
# generating process's own probabilities. Results in $OUT/v_<variant>/results.json.
#
#   benches/independent2/run.sh                       # additive nonlinear history drift, seed 1
#   VARIANTS=raw SEED=2 SUFFIX=_s2 benches/independent2/run.sh
#   VARIANTS=raw SEED=3 SUFFIX=_tz GENARGS="--tz-shift 8 --named 0.3 --delay-median 180" benches/independent2/run.sh
#   VARIANTS=additive SEED=4 SUFFIX=_x2 GENARGS="--scale 2" benches/independent2/run.sh
#
# Environment: CHANGERISK_BIN (default /root/.cache/changerisk-target/release/changerisk),
# VENV (numpy pandas scikit-learn lightgbm; default /work/bench-venv-q), OUT (default
# /tmp/changerisk-independent2). `analyze.py DIR` diagnoses one history (per-group fit).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PY=${VENV:-/work/bench-venv-q}/bin/python
out=${OUT:-/tmp/changerisk-independent2}
mkdir -p "$out"
cd "$out"
for v in ${VARIANTS:-additive nonlinear history drift}; do
  $PY "$here/gen.py" --variant "$v" --seed "${SEED:-1}" --out "v_$v${SUFFIX:-}" ${GENARGS:-}
  $PY "$here/bench.py" "v_$v${SUFFIX:-}"
done
