"""Prepare a face dataset the way a Python user would, to time it against `kao prepare`.

This script does the work of `kao prepare` (src/data/prepare.rs) with Pillow, imagehash,
hashlib and numpy, so benches/prepare_compare.sh can compare the two on the same folder:

1. Scan: walk the inputs recursively, following symlinks, and keep files whose extension is
   jpg, jpeg, png, webp, bmp or gif (any case), in sorted path order.
2. Decode in a multiprocessing.Pool of --workers processes. Reject empty files and files that
   are not JPEG, PNG, WebP, BMP or GIF. Reject images with more than --max-pixels pixels or a
   shorter side below --min-size, and JPEGs without an end-of-image marker after the last
   scan. Convert to 8-bit RGB, compositing alpha on white as kao does.
3. In the same workers: center-crop to a square and resize to --size with Pillow's LANCZOS
   filter (Lanczos3, antialiased when shrinking, as kao's fast_image_resize Lanczos3). Hash
   the decoded pixels with SHA-256 (width and height as little-endian u32, then the RGB bytes,
   as kao) and hash the resized image with imagehash.phash(hash_size=16, highfreq_factor=2).
4. In the main process, in path order: a file whose SHA-256 matches an earlier file is an
   exact duplicate. Otherwise it is a near duplicate of the first kept file whose perceptual
   hash is at most --near-duplicates bits away (default 10 of 256, kao's default).
5. Write images/NNNNNN.png (encoded in the pool), faces.npy (a uint8 array of shape
   (kept, size, size, 3), where kao writes the same bytes behind a 32-byte header into
   faces.kaopack) and report.json into a staging folder, then rename it to --output.

The perceptual hash is the closest imagehash function, not kao's hash. kao uses image_hasher
3.1.1 with HashAlg::Mean and DCT preprocessing. It converts the resized image to grayscale
with Rec. 709 weights, resizes it to 32x32 with Lanczos3, takes a 2-D DCT-II, keeps the 16x16
lowest frequencies and sets each bit where a coefficient is >= their mean. imagehash.phash
with highfreq_factor=2 also resizes to 32x32 and keeps the 16x16 lowest DCT frequencies, but it
uses Pillow's "L" conversion (ITU-R 601-2 weights) and sets bits where a coefficient is > their
median. The median sets half of the bits, where kao's mean, pulled up by the DC coefficient,
sets about a quarter. So unrelated faces lie further apart: on 969 64 px faces, the 1st
percentile of pair distances was 92 bits here and 48 with a numpy approximation of kao's hash.
JPEG re-encoding at quality 60 moved all of 200 faces by at most 10 bits under both. The median
also ignores a change of contrast, so an image composited on white at half alpha is a near
duplicate of its opaque original here but not in kao. The near-duplicate counts of the two
programs can therefore differ somewhat.

Other differences: Pillow decodes JPEGs with libjpeg-turbo and kao with zune-jpeg, so pixels
differ by a few levels (at most 4 of 255 on 1,000 64 px JPEG faces). A JPEG and a lossless
copy of it can therefore be exact duplicates here but only near duplicates in kao. The Pool sends the decoded results through pipes where kao's
threads share memory. Even --workers 1 starts one worker process.

Usage:
    python benches/prepare_python.py INPUT [INPUT ...] --output DIR --size 64 [--workers N]

At the end it prints one JSON line on stdout:
    {"program": "python", "files": ..., "kept": ..., "exact_duplicates": ...,
     "near_duplicates": ..., "seconds": ..., "files_per_second": ..., "workers": ...,
     "peak_rss_mib": ...}
"seconds" runs from the scan to the rename of the output folder and excludes interpreter
start-up and imports. "peak_rss_mib" is the main process's peak RSS plus the largest peak RSS
of one worker (resource.RUSAGE_CHILDREN reports the largest child, not a sum), so with several
workers the true peak of all processes together can be higher.
"""

import argparse
import hashlib
import io
import json
import os
import resource
import shutil
import struct
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"}
SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF"}
IMAGES_DIR_NAME = "images"
PACKED_FILE_NAME = "faces.npy"
REPORT_FILE_NAME = "report.json"
HASH_SIZE = 16
HASH_BITS = HASH_SIZE * HASH_SIZE
DEFAULT_NEAR_DISTANCE = 10
DEFAULT_MAX_PIXELS = 8192 * 8192

GRAYSCALE_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B"}
SIXTEEN_BIT_MODES = {"I", "I;16", "I;16L", "I;16B"}
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}

# Pillow raises these for truncated or malformed image data.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error)

# Limits set in each worker by init_worker, so they are not pickled with every file.
worker_limits = {}


class Rejected(Exception):
    """A file that cannot be used, with the reason written to report.json."""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", type=Path, help="folders (searched recursively) or files to read")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to create for the prepared dataset")
    parser.add_argument("--size", type=int, choices=[64, 128], default=128, help="output side length in pixels")
    parser.add_argument("--min-size", type=int, default=64, help="reject images whose shorter side is below this many pixels")
    parser.add_argument(
        "--near-duplicates",
        type=int,
        default=DEFAULT_NEAR_DISTANCE,
        metavar="MAX_DISTANCE",
        help=f"largest Hamming distance (in bits of the {HASH_BITS}-bit perceptual hash) that counts as a near duplicate",
    )
    parser.add_argument("--no-near-duplicates", action="store_true", help="keep near duplicates, so only identical pixels count as duplicates")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="reject images with more pixels than this before decoding them")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="worker processes (default: one per core)")
    parser.add_argument("--force", action="store_true", help="replace the output folder if it is a dataset written by this script")
    args = parser.parse_args()

    if not 0 <= args.near_duplicates <= HASH_BITS:
        parser.error(f"invalid --near-duplicates {args.near_duplicates}: the hash has {HASH_BITS} bits, use 0 to {HASH_BITS}")
    if args.workers < 1:
        parser.error(f"invalid --workers {args.workers}: use 1 or more")
    return args


def check_output(args):
    """Reject an output that overlaps an input, or an existing folder this script did not write."""
    output = args.output.resolve()
    for path in args.inputs:
        if not path.exists():
            sys.exit(f"error: input {path} not found")
        resolved = path.resolve()
        if resolved == output or resolved in output.parents or output in resolved.parents:
            sys.exit(f"error: --output {args.output} overlaps the input {path}; choose an output folder outside the inputs")
    if not args.output.exists():
        return
    if not args.force:
        sys.exit(f"error: output {args.output} already exists; pass --force to replace it or choose another --output")
    is_prepared = (args.output / PACKED_FILE_NAME).is_file() and (args.output / REPORT_FILE_NAME).is_file()
    if not is_prepared:
        sys.exit(
            f"error: --force replaces only a dataset written by this script, and {args.output} has no "
            f"{PACKED_FILE_NAME} and {REPORT_FILE_NAME}; choose another --output"
        )


def scan(inputs):
    """List image files under `inputs` in kao's order (sorted path components, as Rust's Path)."""
    files = set()
    rejections = []
    ignored = []
    for root in inputs:
        if not root.is_dir():
            candidates = [str(root)]
        else:
            candidates = walk_files(root, rejections)
        for path in candidates:
            if not os.path.isfile(path):
                rejections.append({"path": path, "reason": "unreadable: the file or its symlink target does not exist"})
            elif os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS:
                files.add(path)
            else:
                ignored.append(path)
    ordered = sorted(files, key=lambda path: [os.fsencode(part) for part in Path(path).parts])
    return ordered, rejections, ignored


def walk_files(root, rejections):
    """Yield the files under `root`, following symlinks except those to a folder above them.

    As in kao's walkdir 2.5.1, a symlink is a loop when it points to a folder on the path from
    the file system root down to the folder that contains it.
    """

    def record_error(error):
        rejections.append({"path": error.filename or str(root), "reason": f"unreadable: {error.strerror}"})

    def identity(folder):
        stat = os.stat(folder)
        return stat.st_dev, stat.st_ino

    above_root = {identity(parent) for parent in Path(os.path.realpath(root)).parents}
    for folder, subfolders, names in os.walk(root, followlinks=True, onerror=record_error):
        parts = Path(folder).relative_to(root).parts
        ancestors = above_root | {identity(root.joinpath(*parts[:depth])) for depth in range(len(parts) + 1)}
        for name in list(subfolders):
            path = os.path.join(folder, name)
            if os.path.islink(path) and identity(path) in ancestors:
                rejections.append({"path": path, "reason": "symlink loop: the link points back to a parent folder"})
                subfolders.remove(name)
        for name in names:
            yield os.path.join(folder, name)


def init_worker(size, min_side, max_pixels):
    # kao checks the pixel count itself, so Pillow's decompression-bomb check is turned off.
    Image.MAX_IMAGE_PIXELS = None
    worker_limits.update(size=size, min_side=min_side, max_pixels=max_pixels)


def process_file(path):
    """Decode, resize and hash one file in a worker, and return a candidate dict or a rejection."""
    try:
        rgb, conversions = decode_file(path, worker_limits["min_side"], worker_limits["max_pixels"])
    except Rejected as rejection:
        return {"path": path, "rejection": str(rejection)}

    size = worker_limits["size"]
    width, height = rgb.size
    digest = hashlib.sha256()
    digest.update(struct.pack("<II", width, height))
    digest.update(rgb.tobytes())

    resized = crop_and_resize(rgb, size)
    perceptual = imagehash.phash(resized, hash_size=HASH_SIZE, highfreq_factor=2)
    return {
        "path": path,
        "pixels": resized.tobytes(),
        "sha256": digest.digest(),
        "perceptual": np.packbits(perceptual.hash.flatten()).tobytes(),
        "conversions": conversions,
        "upscaled": min(width, height) < size,
    }


def decode_file(path, min_side, max_pixels):
    """Decode `path` into an 8-bit RGB image, or raise Rejected when it is unusable.

    The reasons copy kao's wording, so the two report.json files can be compared line by line.
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise Rejected(f"unreadable: {error.strerror}") from error
    if not data:
        raise Rejected("empty file (0 bytes)")

    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as error:
        raise Rejected("not an image: the content is not JPEG, PNG, WebP, BMP or GIF") from error
    except DECODE_ERRORS as error:
        raise Rejected(f"corrupt or truncated image: {error}") from error
    if image.format not in SUPPORTED_FORMATS:
        raise Rejected(f"unsupported image format {image.format}; kao reads JPEG, PNG, WebP, BMP and GIF")

    width, height = image.size
    if width * height > max_pixels:
        raise Rejected(f"too large: {width}x{height} pixels exceeds the limit of {max_pixels} pixels")
    if min(width, height) < min_side:
        raise Rejected(f"too small: {width}x{height} pixels, the shorter side is below --min-size {min_side}")
    if image.format == "JPEG" and not jpeg_is_complete(data):
        raise Rejected("corrupt or truncated image: the JPEG data ends before its end-of-image marker")

    try:
        image.load()
        return to_rgb(image, data)
    except DECODE_ERRORS as error:
        raise Rejected(f"corrupt or truncated image: {error}") from error


def jpeg_is_complete(data):
    """Check that an end-of-image marker (FF D9) follows the last start-of-scan marker (FF DA)."""
    last_scan = data.rfind(b"\xff\xda")
    last_end = data.rfind(b"\xff\xd9")
    return last_scan >= 0 and last_end > last_scan


def to_rgb(image, data):
    """Convert a loaded image to 8-bit RGB and list the conversions with kao's report names."""
    conversions = []
    if image.format == "PNG" and image.mode == "P":
        conversions.append("palette")
    if image.format == "JPEG" and image.mode == "CMYK":
        conversions.append("cmyk")
    if image.format == "GIF":
        conversions.append("palette")
        if getattr(image, "is_animated", False):
            conversions.append("animated")
    if image.mode in GRAYSCALE_MODES:
        conversions.append("grayscale")
    # Pillow opens 16-bit RGB PNGs as 8-bit "RGB", so the IHDR bit depth byte is read as well.
    if image.mode in SIXTEEN_BIT_MODES or (image.format == "PNG" and data[24:25] == b"\x10"):
        conversions.append("16-bit")

    if image.mode in SIXTEEN_BIT_MODES:
        # Pillow's convert("L") clips 16-bit values at 255, where kao scales them to 8 bits.
        levels = np.asarray(image, dtype=np.uint32)
        gray = ((levels + 128) // 257).clip(0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2), "RGB"), conversions

    # kao's GIF decoder always returns RGBA, so GIFs take the alpha path as there.
    has_alpha = image.mode in ALPHA_MODES or "transparency" in image.info or image.format == "GIF"
    if not has_alpha:
        return image.convert("RGB"), conversions

    conversions.append("rgba")
    rgba = np.asarray(image.convert("RGBA"), dtype=np.uint32)
    alpha = rgba[:, :, 3:4]
    # Composite on white: c * a + 255 * (1 - a), rounded, in 8-bit fixed point.
    rgb = (rgba[:, :, :3] * alpha + 255 * (255 - alpha) + 127) // 255
    return Image.fromarray(rgb.astype(np.uint8), "RGB"), conversions


def crop_and_resize(image, size):
    """Center-crop `image` to a square and resize it to `size` with Lanczos3."""
    width, height = image.size
    if (width, height) == (size, size):
        return image
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return image.resize((size, size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side))


def find_duplicates(candidates, near_distance):
    """Return, per candidate, None when kept or (kind, index of the kept original, distance).

    The first copy in path order wins, as in kao's find_duplicates.
    """
    first_by_sha256 = {}
    # Kept perceptual hashes as four rows of 64-bit words, so one XOR and popcount per row
    # compares a new hash with every kept hash.
    kept_words = np.empty((4, len(candidates)), dtype=np.uint64)
    kept_indices = np.empty(len(candidates), dtype=np.int64)
    kept_count = 0
    verdicts = []

    for index, candidate in enumerate(candidates):
        original = first_by_sha256.get(candidate["sha256"])
        if original is not None:
            verdicts.append(("exact", original, 0))
            continue
        first_by_sha256[candidate["sha256"]] = index

        words = np.frombuffer(candidate["perceptual"], dtype=np.uint64)
        verdict = None
        if near_distance is not None and kept_count > 0:
            distances = np.zeros(kept_count, dtype=np.uint16)
            for row in range(4):
                distances += popcount(kept_words[row, :kept_count] ^ words[row])
            matches = np.flatnonzero(distances <= near_distance)
            if matches.size > 0:
                first = matches[0]
                verdict = ("near", int(kept_indices[first]), int(distances[first]))
        if verdict is None:
            kept_words[:, kept_count] = words
            kept_indices[kept_count] = index
            kept_count += 1
        verdicts.append(verdict)
    return verdicts


POPCOUNT_TABLE = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def popcount(words):
    """Count the set bits of each uint64 in `words`."""
    if hasattr(np, "bitwise_count"):  # numpy 2.0 and later
        return np.bitwise_count(words)
    return POPCOUNT_TABLE[words.view(np.uint8)].reshape(-1, 8).sum(axis=1, dtype=np.uint16)


def build_report(args, scanned, rejections, ignored, candidates, verdicts):
    """Count and list what happened to each file, with kao's report.json field names."""
    report = {
        "scanned": scanned,
        "kept": 0,
        "exact_duplicates": 0,
        "near_duplicates": 0,
        "rejected": len(rejections),
        "converted": 0,
        "upscaled": 0,
        "ignored": len(ignored),
        "size": args.size,
        "near_duplicate_distance": None if args.no_near_duplicates else args.near_duplicates,
        "kept_files": [],
        "duplicates": [],
        "rejections": rejections,
        "conversions": [],
        "ignored_files": ignored,
    }
    for candidate, verdict in zip(candidates, verdicts):
        if candidate["conversions"]:
            report["converted"] += 1
        for conversion in candidate["conversions"]:
            report["conversions"].append({"path": candidate["path"], "from": conversion})
        if verdict is None:
            report["kept_files"].append({"path": candidate["path"], "output": image_file_name(report["kept"])})
            report["kept"] += 1
            report["upscaled"] += int(candidate["upscaled"])
            continue
        kind, original, distance = verdict
        report[f"{kind}_duplicates"] += 1
        report["duplicates"].append(
            {"path": candidate["path"], "duplicate_of": candidates[original]["path"], "kind": kind, "distance": distance}
        )
    return report


def image_file_name(index):
    return f"{IMAGES_DIR_NAME}/{index:06d}.png"


def write_png(task):
    path, pixels, size = task
    Image.frombytes("RGB", (size, size), pixels).save(path)


def write_dataset(pool, staging, kept_candidates, size, report, started):
    """Write the PNGs (in the pool), the packed array and the report into `staging`."""
    (staging / IMAGES_DIR_NAME).mkdir(parents=True)
    tasks = ((staging / image_file_name(index), candidate["pixels"], size) for index, candidate in enumerate(kept_candidates))
    for _ in pool.imap_unordered(write_png, tasks, chunksize=64):
        pass

    packed = np.empty((len(kept_candidates), size, size, 3), dtype=np.uint8)
    for index, candidate in enumerate(kept_candidates):
        packed[index] = np.frombuffer(candidate["pixels"], dtype=np.uint8).reshape(size, size, 3)
    with open(staging / PACKED_FILE_NAME, "wb") as file:
        np.save(file, packed)
        file.flush()
        # kao syncs its packed file to disk before renaming the folder, so this does too.
        os.fsync(file.fileno())

    # The report is written last, so its timings cover everything but this write and the rename.
    report["seconds_at_end_of"]["write"] = time.perf_counter() - started
    with open(staging / REPORT_FILE_NAME, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=2)


def commit(staging, output, replace):
    """Rename `staging` to `output`, moving an existing output aside first when replacing."""
    old = None
    if replace and output.exists():
        old = output.with_name(f".{output.name}.old-{os.getpid()}")
        output.rename(old)
    staging.rename(output)
    if old is not None:
        shutil.rmtree(old)


def peak_rss_mib():
    """Return (main process, largest worker) peak RSS in MiB, from ru_maxrss in KiB as Linux reports it."""
    main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return main, largest_child


def main():
    args = parse_args()
    check_output(args)
    near_distance = None if args.no_near_duplicates else args.near_duplicates
    started = time.perf_counter()
    # Seconds since `started` at the end of each step, written to report.json.
    step_ends = {}

    files, rejections, ignored = scan(args.inputs)
    step_ends["scan"] = time.perf_counter() - started
    staging = args.output.with_name(f".{args.output.name}.staging-{os.getpid()}")
    pool = Pool(args.workers, initializer=init_worker, initargs=(args.size, args.min_size, args.max_pixels))
    try:
        candidates = []
        for outcome in pool.imap(process_file, files, chunksize=32):
            if "rejection" in outcome:
                rejections.append({"path": outcome["path"], "reason": outcome["rejection"]})
            else:
                candidates.append(outcome)
        step_ends["decode"] = time.perf_counter() - started

        verdicts = find_duplicates(candidates, near_distance)
        step_ends["duplicates"] = time.perf_counter() - started
        report = build_report(args, len(files), rejections, ignored, candidates, verdicts)
        report["workers"] = args.workers
        report["seconds_at_end_of"] = step_ends
        kept_candidates = [candidate for candidate, verdict in zip(candidates, verdicts) if verdict is None]
        if not kept_candidates:
            sys.exit(
                f"error: no usable image found in {', '.join(map(str, args.inputs))}: {report['rejected']} files rejected "
                f"and {report['ignored']} ignored for their extension (this reads {', '.join(sorted(IMAGE_EXTENSIONS))})"
            )
        write_dataset(pool, staging, kept_candidates, args.size, report, started)
        pool.close()
        pool.join()
        commit(staging, args.output, args.force)
    finally:
        pool.terminate()
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - started

    main_mib, worker_mib = peak_rss_mib()
    for rejection in rejections[:20]:
        print(f"rejected {rejection['path']}: {rejection['reason']}", file=sys.stderr)
    if len(rejections) > 20:
        print(f"... and {len(rejections) - 20} more rejections, listed in {REPORT_FILE_NAME}", file=sys.stderr)
    print(
        f"scanned {report['scanned']} files: kept {report['kept']}, exact duplicates {report['exact_duplicates']}, "
        f"near duplicates {report['near_duplicates']}, rejected {report['rejected']}, converted {report['converted']}, "
        f"upscaled {report['upscaled']}, ignored {report['ignored']}",
        file=sys.stderr,
    )
    print(
        f"wrote {args.output} in {seconds:.2f} s (peak RSS: main {main_mib:.0f} MiB, largest worker {worker_mib:.0f} MiB)",
        file=sys.stderr,
    )
    print(json.dumps({
        "program": "python",
        "files": len(files),
        "kept": report["kept"],
        "exact_duplicates": report["exact_duplicates"],
        "near_duplicates": report["near_duplicates"],
        "seconds": round(seconds, 3),
        "files_per_second": round(len(files) / seconds, 1),
        "workers": args.workers,
        "peak_rss_mib": round(main_mib + worker_mib, 1),
    }))


if __name__ == "__main__":
    main()
