#!/usr/bin/env bash
# Measures Inception feature extraction in kao and in PyTorch, one after the other on the same
# machine, and prints both and their ratio. Needs `kao weights import` done, the wheel, and a
# Python with torch: PYTHON=/path/to/venv/bin/python benches/inception.sh WHEEL
set -euo pipefail
cd "$(dirname "$0")/.."
wheel="$1"
python="${PYTHON:-python3}"
batch="${BATCH:-16}"
batches="${BATCHES:-6}"

kao=$(cargo bench --quiet --bench inception -- --batch "$batch" --batches "$batches" | tail -n 1)
torch=$("$python" benches/inception_pytorch.py "$wheel" --batch "$batch" --batches "$batches" | tail -n 1)
echo "kao:     $kao"
echo "pytorch: $torch"
"$python" - "$kao" "$torch" <<'PY'
import json, sys
kao, torch = (json.loads(line) for line in sys.argv[1:3])
print(f"ratio kao/pytorch: {kao['images_per_second'] / torch['images_per_second']:.2f}")
PY
