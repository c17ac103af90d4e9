#!/usr/bin/env bash
# Times kao and PyTorch on the same networks, alternating between them on one machine, and
# prints a Markdown table of images per second, their ratio and peak memory.
#
#   PYTHON=/path/to/venv/bin/python benches/compare.sh [OUTPUT.jsonl]
#
# Settings, from the environment:
#   PYTHON   Python with torch installed (default: python3)
#   THREADS  CPU threads given to both programs (default: all cores)
#   MODELS   presets to time (default: "dcgan-64 dcgan-128 stylegan-64")
#   MODES    what to time (default: "train generate")
#   ROUNDS   alternating rounds per preset and mode; the faster round of each program counts
#            (default: 2)
#   STEPS    timed steps per round (default: 8); WARMUP untimed steps first (default: 2)
#
# Each measurement is its own process, so its peak resident memory is its own. Every JSON line
# goes to OUTPUT.jsonl (default: target/bench/compare.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
threads="${THREADS:-$(nproc)}"
models="${MODELS:-dcgan-64 dcgan-128 stylegan-64}"
modes="${MODES:-train generate}"
rounds="${ROUNDS:-2}"
steps="${STEPS:-8}"
warmup="${WARMUP:-2}"
output="${1:-target/bench/compare.jsonl}"

for model in $models; do
    case "$model" in dcgan-64|dcgan-128|stylegan-64) ;; *)
        echo "error: invalid model $model in MODELS: use dcgan-64, dcgan-128 or stylegan-64" >&2; exit 1 ;;
    esac
done
for mode in $modes; do
    case "$mode" in train|generate) ;; *)
        echo "error: invalid mode $mode in MODES: use train or generate" >&2; exit 1 ;;
    esac
done
if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "error: $python cannot import torch; set PYTHON to a Python with torch installed" >&2
    exit 1
fi

echo "building kao (cargo build --release --locked)" >&2
cargo build --release --locked
mkdir -p "$(dirname "$output")"
: > "$output"

# Both programs read these too, so no library starts more threads than asked.
export RAYON_NUM_THREADS="$threads" OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads"
common=(--mode "" --steps "$steps" --warmup "$warmup" --threads "$threads")

for model in $models; do
    for mode in $modes; do
        common[1]="$mode"
        for round in $(seq "$rounds"); do
            echo "round $round of $rounds: $model $mode" >&2
            # Odd rounds start with kao and even rounds with PyTorch, so neither always runs
            # on a machine the other has just warmed up.
            if (( round % 2 == 1 )); then
                target/release/kao bench --model "$model" "${common[@]}" | tail -n 1 >> "$output"
                "$python" benches/gan_pytorch.py --model "$model" "${common[@]}" | tail -n 1 >> "$output"
            else
                "$python" benches/gan_pytorch.py --model "$model" "${common[@]}" | tail -n 1 >> "$output"
                target/release/kao bench --model "$model" "${common[@]}" | tail -n 1 >> "$output"
            fi
        done
    done
done

"$python" - "$output" "$rounds" "$steps" "$warmup" <<'PY'
import json, os, platform, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for row in rows:
    key = (row["model"], row["mode"], row["program"])
    if key not in best or row["images_per_second"] > best[key]["images_per_second"]:
        best[key] = row

cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), None)
rounds, steps, warmup = sys.argv[2:5]
print(f"machine: {cpu or platform.machine()}, {os.cpu_count()} cores, threads: {rows[0]['threads']}")
print(f"each cell: the faster of {rounds} rounds of {steps} timed steps after {warmup} untimed")
print("| model | mode | batch | kao images/s | PyTorch images/s | kao / PyTorch | kao peak RSS (MiB) | PyTorch peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|---|")
for (model, mode, program), kao in best.items():
    if program != "kao":
        continue
    torch = best[(model, mode, "pytorch")]
    ratio = kao["images_per_second"] / torch["images_per_second"]
    print(
        f"| {model} | {mode} | {kao['batch']} | {kao['images_per_second']:.1f} | {torch['images_per_second']:.1f} "
        f"| {ratio:.2f} | {kao['peak_rss_mib']:.0f} | {torch['peak_rss_mib']:.0f} |"
    )
PY
