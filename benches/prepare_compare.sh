#!/usr/bin/env bash
# Times `kao prepare` against benches/prepare_python.py (Pillow, imagehash, multiprocessing) on
# the same input folder with the same worker count. Prints both timings and the ratio kao/python
# in files per second. Both runs use --size 64 (or $SIZE) and their default near-duplicate
# distance, and each writes into its own temporary folder, which is deleted at exit.
#
# Usage: PYTHON=/path/to/venv/bin/python benches/prepare_compare.sh INPUT [WORKERS]
#   INPUT    folder of images (searched recursively)
#   WORKERS  kao threads (RAYON_NUM_THREADS and --jobs) and Python worker processes;
#            default: the number of cores
# Needs a built target/release/kao (cargo build --release) and a Python with Pillow, imagehash
# and numpy. Files per second count every scanned file over the wall-clock time of the whole
# command, so Python's interpreter start-up and imports are included. CPU times and peak RSS
# come from /usr/bin/time -v, or CPU times only from bash's time where it is missing.
# NOTE: kao runs first, so the Python run may find the input files in the page cache where kao
# did not. Run the script twice, or read the input once beforehand, to compare warm runs.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: benches/prepare_compare.sh INPUT [WORKERS]" >&2
    exit 2
fi
if [[ ! -d "$1" ]]; then
    echo "error: input folder $1 not found" >&2
    exit 1
fi
input=$(realpath "$1")
workers="${2:-$(nproc)}"
python="${PYTHON:-python3}"
size="${SIZE:-64}"
cd "$(dirname "$0")/.."
kao="$PWD/target/release/kao"

if [[ ! "$workers" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: invalid WORKERS $workers: use a whole number of 1 or more" >&2
    exit 1
fi
if [[ ! -x "$kao" ]]; then
    echo "error: $kao not found; build it first with cargo build --release" >&2
    exit 1
fi
if ! "$python" -c 'import imagehash, numpy, PIL' 2>/dev/null; then
    echo "error: $python cannot import imagehash, numpy and PIL; set PYTHON to a Python that has them" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kao-prepare-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -x /usr/bin/time ]]; then
    gnu_time=1
else
    gnu_time=0
    TIMEFORMAT='bash time: real %3R s, user %3U s, sys %3S s'
    echo "note: /usr/bin/time not found, so bash time is used and peak RSS is measured only by prepare_python.py" >&2
fi

# Runs a command with its stdout in $work/NAME.out, its stderr in $work/NAME.err and the
# timer's output in $work/NAME.time, and prints its wall-clock seconds.
run_timed() {
    local name="$1"
    shift
    local started ended status=0
    started=$(date +%s.%N)
    if ((gnu_time)); then
        /usr/bin/time -v -o "$work/$name.time" "$@" >"$work/$name.out" 2>"$work/$name.err" || status=$?
    else
        { time "$@" >"$work/$name.out" 2>"$work/$name.err"; } 2>"$work/$name.time" || status=$?
    fi
    ended=$(date +%s.%N)
    if ((status != 0)); then
        echo "error: the $name run failed with exit status $status; its output follows" >&2
        cat "$work/$name.out" "$work/$name.err" >&2
        exit 1
    fi
    awk -v started="$started" -v ended="$ended" 'BEGIN { printf "%.3f\n", ended - started }'
}

# Prints the CPU times and peak RSS from the timer's output for the run NAME.
time_summary() {
    local file="$work/$1.time"
    if ((gnu_time)); then
        local user system rss
        user=$(sed -n 's/.*User time (seconds): //p' "$file")
        system=$(sed -n 's/.*System time (seconds): //p' "$file")
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$file")
        echo "/usr/bin/time -v: user $user s, sys $system s, max RSS of the largest process $((rss / 1024)) MiB"
    else
        cat "$file"
    fi
}

echo "input: $input, workers: $workers, size: $size"

kao_seconds=$(run_timed kao \
    env RAYON_NUM_THREADS="$workers" "$kao" prepare "$input" --output "$work/kao" --size "$size" --jobs "$workers")
echo "kao:    $kao_seconds s"
# kao's summary, without the output folder it names: that is a temporary folder, deleted at exit.
grep -v '^wrote ' "$work/kao.out" || true
time_summary kao

python_seconds=$(run_timed python \
    "$python" benches/prepare_python.py "$input" --output "$work/python" --size "$size" --workers "$workers")
echo "python: $python_seconds s"
# Python's JSON line; its peak_rss_mib adds the main process and the largest worker.
tail -n 1 "$work/python.out"
time_summary python

"$python" - "$work/kao/report.json" "$kao_seconds" "$work/python/report.json" "$python_seconds" <<'PY'
import json
import sys

kao_report, kao_seconds, python_report, python_seconds = sys.argv[1:5]
rates = {}
for program, report_path, seconds in (("kao", kao_report, kao_seconds), ("python", python_report, python_seconds)):
    with open(report_path, encoding="utf-8") as file:
        report = json.load(file)
    rates[program] = report["scanned"] / float(seconds)
    print(
        f"{program:7} {report['scanned']} files in {float(seconds):.2f} s: {rates[program]:.1f} files/s, "
        f"kept {report['kept']}, exact duplicates {report['exact_duplicates']}, "
        f"near duplicates {report['near_duplicates']}, rejected {report['rejected']}"
    )
print(f"ratio kao/python: {rates['kao'] / rates['python']:.2f}")
PY
