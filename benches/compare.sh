#!/usr/bin/env bash
# Measures changerisk against the pandas/scikit-learn baseline (benches/baseline.py) on the
# same data in one run, and checks the targets of issue 2 on this machine (the score
# comparison uses changerisk's logistic learner, the baseline's model; the default
# learner's model is trained and scored once as well, for reference):
#   score of N changes CSV -> CSV at least 5x faster than the baseline,
#   train on N changes in under 60 s, peak memory under 2 GB.
#
#   benches/compare.sh            # N = 1,000,000 history changes + 1,000,000 to score
#
# Environment (all optional):
#   BENCH_N      history changes and changes to score (default 1000000)
#   BENCH_RUNS   runs of each score command; the median is reported (default 3)
#   BENCH_DIR    data and outputs (default /tmp/changerisk-bench); the generated data is
#                reused when it is already there for the same BENCH_N
#   BENCH_VENV   Python venv with pandas, scikit-learn, numpy; created if missing
#                (default /work/bench-venv)
#   CHANGERISK   the changerisk binary; default: `cargo build --release` and use
#                ${CARGO_TARGET_DIR:-target}/release/changerisk
# Wall time and peak RSS come from GNU time (/usr/bin/time). Runs of changerisk and of
# the baseline alternate, so load from elsewhere on the machine hits both alike.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-3}
dir=${BENCH_DIR:-/tmp/changerisk-bench}
venv=${BENCH_VENV:-/work/bench-venv}
baseline="$repo/benches/baseline.py"
mkdir -p "$dir"
log="$dir/compare.log"
: >"$log"

say() { printf '%s\n' "$*" | tee -a "$log" >&2; }

[[ -x /usr/bin/time ]] || { echo "compare.sh needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 2; }

# --- tools ---------------------------------------------------------------------------
if [[ ! -x "$venv/bin/python" ]]; then
    say "creating the Python venv $venv"
    python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import pandas, sklearn, numpy' 2>/dev/null; then
    "$venv/bin/pip" install --quiet pandas scikit-learn numpy
fi
py="$venv/bin/python"

if [[ -z "${CHANGERISK:-}" ]]; then
    (cd "$repo" && cargo build --release --quiet)
    CHANGERISK="${CARGO_TARGET_DIR:-$repo/target}/release/changerisk"
fi
# A copy, so that a rebuild elsewhere cannot swap the binary between runs.
cp "$CHANGERISK" "$dir/changerisk"
cr="$dir/changerisk"

# --- data ----------------------------------------------------------------------------
data="$dir/data"
if [[ "$(cat "$data/.n" 2>/dev/null)" != "$n" ]]; then
    say "generating $n history changes + $n changes to score into $data"
    "$cr" generate --quiet --changes "$n" --new-changes "$n" --output-dir "$data"
    echo "$n" >"$data/.n"
fi
changes="$data/changes.csv"
incidents="$data/incidents.csv"
new="$data/new_changes.csv"

# --- measuring -----------------------------------------------------------------------
# measure NAME CMD...: runs CMD under GNU time, appends "NAME wall_s peak_kb cpu_s" to
# $dir/times. CPU time (user + system) is shown too: it moves less than wall time when
# other work shares the machine.
times="$dir/times"
: >"$times"
measure() {
    local name=$1 load
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    if ! /usr/bin/time -f '%e %M %U %S' -o "$dir/time.out" "$@" >>"$log" 2>&1; then
        echo "failed: $* (see $log)" >&2
        exit 1
    fi
    read -r secs kb user sys <"$dir/time.out"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {print u + s}')
    echo "$name $secs $kb $cpu" >>"$times"
    say "$(printf '  %-10s %8.2f s wall %8.2f s CPU %6d MiB   (load average before %s)' \
        "$name" "$secs" "$cpu" "$((kb / 1024))" "$load")"
}
# median NAME [FIELD], fastest NAME, peak NAME: over the runs recorded under NAME
# (FIELD 2: wall, the default; 4: CPU). Peaks are in MiB.
median() {
    awk -v k="$1" -v f="${2:-2}" '$1 == k {print $f}' "$times" | sort -g |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
fastest() { awk -v k="$1" '$1 == k {print $2}' "$times" | sort -g | head -1; }
peak() { awk -v k="$1" '$1 == k && $3 > m {m = $3} END {printf "%.0f", m / 1024}' "$times"; }
divide() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

source=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
versions=$("$py" -c 'import pandas, sklearn; print("pandas", pandas.__version__, "scikit-learn", sklearn.__version__)')
say "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; load: $(cut -d' ' -f1-3 /proc/loadavg)"
say "changerisk: $CHANGERISK (source: $source)"
say "baseline:   $py $baseline ($versions)"

say "train on $n changes (changerisk's default learner)"
measure cr_train "$cr" train --quiet --changes "$changes" --incidents "$incidents" \
    --model "$dir/model.json"
measure py_train "$py" "$baseline" train --changes "$changes" --incidents "$incidents" \
    --model "$dir/baseline.pkl"
# The baseline is a logistic regression: the score comparison (and the check that the
# baseline reproduces changerisk's scores) uses changerisk's logistic learner too.
say "train changerisk's logistic learner on $n changes (for the score comparison)"
measure cr_train_logistic "$cr" train --quiet --learner logistic --changes "$changes" \
    --incidents "$incidents" --model "$dir/model_logistic.json"

say "score $n changes (CSV -> CSV, with history and incidents), $runs runs each"
for ((i = 1; i <= runs; i++)); do
    measure cr_score "$cr" score --quiet --model "$dir/model_logistic.json" --changes "$new" \
        --history "$changes" --incidents "$incidents" --output "$dir/scored.csv"
    measure py_score "$py" "$baseline" score --model "$dir/baseline.pkl" --changes "$new" \
        --history "$changes" --incidents "$incidents" --output "$dir/baseline_scored.csv"
done
say "score $n changes with the default learner's model (trees explained by TreeSHAP), 1 run"
measure cr_score_default "$cr" score --quiet --model "$dir/model.json" --changes "$new" \
    --history "$changes" --incidents "$incidents" --output "$dir/scored_default.csv"

say "reading the $n changes to score, nothing else (pandas read_csv; the floor of the baseline)"
measure py_read "$py" -c "import pandas, sys; pandas.read_csv(sys.argv[1])" "$new"

say "checking that the baseline computes changerisk's features and, from the model files alone, its risks (not timed)"
for pair in "model_logistic.json scored.csv" "model.json scored_default.csv"; do
    read -r model_file scores_file <<<"$pair"
    "$py" "$baseline" verify --changerisk-model "$dir/$model_file" \
        --changerisk-scores "$dir/$scores_file" --changes "$new" --history "$changes" \
        --incidents "$incidents" | tee -a "$log" >&2
done

# --- summary -------------------------------------------------------------------------
cr_score=$(median cr_score)
py_score=$(median py_score)
cr_train=$(median cr_train)
cr_peak=$(awk '$1 ~ /^cr_/ && $3 > m {m = $3} END {printf "%.0f", m / 1024}' "$times")
verdict() { if [[ $1 == 1 ]]; then echo "met"; else echo "MISSED"; fi; }
ratio=$(divide "$py_score" "$cr_score")
{
    echo
    echo "=== changerisk vs pandas/scikit-learn, $n changes, $(nproc) cores (medians of $runs runs) ==="
    printf '%-34s %10s %10s\n' "" "changerisk" "baseline"
    printf '%-34s %9.2fs %9.2fs\n' "score $n (CSV -> CSV), wall" "$cr_score" "$py_score"
    printf '%-34s %9.2fs %9.2fs\n' "score, wall, fastest run" "$(fastest cr_score)" \
        "$(fastest py_score)"
    printf '%-34s %9.2fs %9.2fs\n' "score, CPU (user + system)" "$(median cr_score 4)" \
        "$(median py_score 4)"
    printf '%-34s %8sMiB %8sMiB\n' "score, peak RSS" "$(peak cr_score)" "$(peak py_score)"
    printf '%-34s %9.0f/s %9.0f/s\n' "score throughput (changes/s)" \
        "$(awk -v n="$n" -v t="$cr_score" 'BEGIN {print n / t}')" \
        "$(awk -v n="$n" -v t="$py_score" 'BEGIN {print n / t}')"
    printf '%-34s %9.2fs %10s\n' "score, default learner, wall (1 run)" \
        "$(median cr_score_default)" ""
    printf '%-34s %9.2fs %9.2fs\n' "train $n, wall (1 run)" "$cr_train" "$(median py_train)"
    printf '%-34s %9.2fs %9.2fs\n' "train, CPU (user + system)" "$(median cr_train 4)" \
        "$(median py_train 4)"
    printf '%-34s %8sMiB %8sMiB\n' "train, peak RSS" "$(peak cr_train)" "$(peak py_train)"
    printf '%-34s %10s %9.2fs\n' "pandas read_csv of the $n alone" "" "$(median py_read)"
    echo
    echo "score speed-up, baseline / changerisk: ${ratio}x by median wall time" \
        "(target >= 5x): $(verdict "$(awk -v r="$ratio" 'BEGIN {print (r >= 5)}')");" \
        "$(divide "$(fastest py_score)" "$(fastest cr_score)")x fastest runs," \
        "$(divide "$(median py_score 4)" "$(median cr_score 4)")x by CPU time"
    echo "train: ${cr_train} s (target < 60 s):" \
        "$(verdict "$(awk -v t="$cr_train" 'BEGIN {print (t < 60)}')")"
    echo "peak memory: ${cr_peak} MiB (target < 2 GiB = 2048 MiB): $(verdict "$((cr_peak < 2048))")"
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$log"
