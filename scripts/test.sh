#!/usr/bin/env bash
# The test suite: sets up what the tests need beyond cargo (a Python venv with
# scikit-learn for the independent metric checks, the notebook stack, DuckDB and PySpark,
# headless Chromium for the report and a Java runtime for Spark), then runs every test
# in the one release profile the binary uses.
set -euo pipefail
cd "$(dirname "$0")/.."

# The build directory is cargo's own (./target, as for `cargo run`) unless CARGO_TARGET_DIR
# names another (.ci/run keeps it outside the clone), so the README's two commands share one build.
venv="${CHANGERISK_VENV:-$HOME/.cache/changerisk-venv}"
stamp="$venv/.requirements"
if ! cmp -s scripts/requirements.txt "$stamp" 2>/dev/null; then
    echo "setting up the Python venv in $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements.txt
    cp scripts/requirements.txt "$stamp"
fi
export CHANGERISK_PYTHON="$venv/bin/python"

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing Debian's chromium (headless report test)" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium >/dev/null
fi
export CHANGERISK_CHROMIUM="$(command -v chromium)"

# PySpark (in the venv) runs Spark SQL on a Java runtime.
if ! command -v java >/dev/null 2>&1; then
    echo "installing Debian's Java 17 runtime (Spark SQL test)" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q openjdk-17-jre-headless >/dev/null
fi

cargo test --release "$@"

# The whole suite also runs a short, seeded pass of the command-line fuzzer over every
# input path (scripts/fuzz_cli.py: 30 runs of each of its eight rounds, about 20 s; longer
# runs with other seeds are for development). Its exit 1 names a bad run, kept below.
if [ $# -eq 0 ]; then
    "$venv/bin/python" scripts/fuzz_cli.py "${CARGO_TARGET_DIR:-target}/release/changerisk" 30 1 \
        "${TMPDIR:-/tmp}/changerisk-fuzz"
fi
