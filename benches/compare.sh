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

cargo build --release --locked --quiet
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
            target/release/kao bench --model "$model" "${common[@]}" | tail -n 1 >> "$output"
            "$python" benches/gan_pytorch.py --model "$model" "${common[@]}" | tail -n 1 >> "$output"
        done
    done
done

"$python" - "$output" <<'PY'
import json, platform, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for row in rows:
    key = (row["model"], row["mode"], row["program"])
    if key not in best or row["images_per_second"] > best[key]["images_per_second"]:
        best[key] = row

cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), None)
print(f"machine: {cpu or platform.machine()}, threads: {rows[0]['threads']}")
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
