#!/usr/bin/env bash
# Model quality on synthetic histories (issue 2 "Acceptance", issue 4 third bullet):
# changerisk vs scikit-learn logistic regression and LightGBM on the same raw columns, and
# vs the generating process's own probabilities (`generate --truth`), on a time-ordered
# 80/20 split of 200k-change histories. See benches/quality.py for each step.
#
#   benches/quality.sh                    # seeds 11 and 12, 200000 changes each
#
# Builds nothing: run `cargo build --release` first.
# Environment (all optional):
#   CHANGERISK_BIN    the binary (default $CARGO_TARGET_DIR or ./target, release)
#   VENV              Python venv with numpy, pandas, scikit-learn, lightgbm; created and
#                     filled if missing (default /work/bench-venv-q)
#   QUALITY_SEEDS     comma-separated seeds (default 11,12)
#   QUALITY_CHANGES   changes per history (default 200000)
#   QUALITY_DAYS      days each history spans (default: generate's, 730)
#   QUALITY_DIR       generated data, models and scores (default /tmp/changerisk-quality)
#   QUALITY_GENERATOR a generator script to use instead of `changerisk generate`, e.g.
#                     benches/independent_gen.py (written from SPEC.md alone, as a held-out
#                     check); QUALITY_GEN_ARGS passes it more flags ("--drift 2")
# Prints the tables on stdout (progress on stderr) and writes $QUALITY_DIR/quality.json.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${CHANGERISK_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/changerisk}
venv=${VENV:-/work/bench-venv-q}
dir=${QUALITY_DIR:-/tmp/changerisk-quality}

[[ -x "$bin" ]] || { echo "no changerisk binary at $bin (cargo build --release, or set CHANGERISK_BIN)" >&2; exit 2; }
if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating the Python venv $venv" >&2
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy, pandas, sklearn, lightgbm' 2>/dev/null; then
    "$venv/bin/pip" install --quiet numpy pandas scikit-learn lightgbm
fi
py="$venv/bin/python"
mkdir -p "$dir"
echo "changerisk: $bin ($("$bin" --version 2>/dev/null || echo '?')); $(nproc) cores" >&2
echo "python: $("$py" -c 'import sys, numpy, pandas, sklearn, lightgbm; print(sys.version.split()[0], "numpy", numpy.__version__, "pandas", pandas.__version__, "scikit-learn", sklearn.__version__, "lightgbm", lightgbm.__version__)')" >&2

exec "$py" "$repo/benches/quality.py" --bin "$bin" \
    --seeds "${QUALITY_SEEDS:-11,12}" --changes "${QUALITY_CHANGES:-200000}" \
    ${QUALITY_DAYS:+--days "$QUALITY_DAYS"} \
    ${QUALITY_GENERATOR:+--generator "$QUALITY_GENERATOR"} --gen-args "${QUALITY_GEN_ARGS:-}" \
    --workdir "$dir" --json "$dir/quality.json"
