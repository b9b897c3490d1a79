"""How fast does training run on this CPU, against the same training in plain PyTorch?

Two recipes, each timed against a PyTorch twin in the same run:

- **the default path** (MLP): one epoch of 60,000 images (the size of MNIST's training set)
  for ``VAE(latent_dim=2)``, ``compile()``, ``fit(batch_size=128)``, fed two ways: the
  package's ``tf.data`` pipeline (``fit(data.train)``) and NumPy arrays
  (``fit(x_train, batch_size=128)``, Keras' own array adapter: turning the arrays into the
  package's pipeline inside ``fit`` was tried and measured 0.80x to 1.12x of it over four
  runs, no gain beyond noise, so it was not kept), against the original study's PyTorch
  loop. ``--ablations`` adds XLA off and one step per execution; ``--bfloat16`` the
  mixed_bfloat16 option; the compute floor at the machine's float32 matmul peak is printed.
- **the best recipe** (conv): ``vae_tf.recipe.BEST`` when it exists, else a convolutional
  VAE with latent_dim 32, XLA off (XLA makes this model slower on a CPU), dynamic
  binarization; against a PyTorch twin with the same layers, on fewer images per epoch
  (``--conv-images``).

The mixed_bfloat16 option (bfloat16 matmuls and convolutions, float32 weights and loss)
is timed (with ``--bfloat16``) and also scored: the same seed trained with float32 and with bfloat16 for
``--quality-updates`` updates on the offline sample, then the held-out -ELBO and IWAE
(nats per image), both evaluated in float32. A faster option that is worse in nats is
not a default.

The images are the offline sample (5,000 real digits) repeated to the epoch's size: the
speed of an epoch does not depend on which digits it sees.

Fairness on a shared machine: each thread count (``--threads 1 2``) runs in its own
process, where TensorFlow and PyTorch get that many threads before either runs an op; the
contenders' epochs are interleaved (A B, B A, ...) after one untimed warm-up epoch each;
every run reports wall-clock and process CPU seconds, and every ratio is the median and
range of the per-round ratios over ``--repeats`` rounds (see ``speed_harness.py``).

Usage: python benchmarks/train_speed.py [--threads 1 2] [--repeats 5] [--images 60000]
       [--conv-images 10000] [--ablations] [--bfloat16 [--quality-updates 400]]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import vae_tf  # noqa: F401  (first: importing it hides TensorFlow's C++ log lines)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_harness import (  # noqa: E402
    Measurement,
    format_table,
    interleave,
    median_measurement,
    paired_ratio,
    pin_threads,
    positive_threads,
    speedup_line,
)

LATENT_DIM = 2
HIDDEN = 512
PIXELS = 784
BATCH_SIZE = 128


def training_flops_per_image() -> float:
    """FLOPs of the dense layers in one training step, per image.

    Forward and the weight gradients cost one multiply-add per weight each; the input
    gradients cost as much again for every layer but the first (nothing needs the
    gradient with respect to the pixels). Elementwise work is left out.
    """
    first = PIXELS * HIDDEN
    macs = first + HIDDEN * 2 * LATENT_DIM + LATENT_DIM * HIDDEN + HIDDEN * PIXELS
    return 2 * (3 * macs - first)


def matmul_peak_flops(size: int = 2048, repeats: int = 10) -> float:
    """float32 FLOP/s of a large TensorFlow matrix multiply: the machine's practical peak."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    tf.linalg.matmul(a, b).numpy()  # warm up
    start = time.perf_counter()
    for _ in range(repeats):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def images(n: int) -> np.ndarray:
    from vae_tf.data import load_mnist

    data = load_mnist("sample", verbose=False)
    pool = np.concatenate([data.x_train, data.x_test])
    return np.resize(pool, (n, 28, 28, 1)).astype(np.float32)


def best_recipe():
    """``vae_tf.recipe.BEST`` when the package defines it, else the conv recipe measured here."""
    from vae_tf import recipe as recipe_module

    best = getattr(recipe_module, "BEST", None)
    if best is not None:
        return best, "vae_tf.recipe.BEST"
    fallback = recipe_module.ORIGINAL.replace(latent_dim=32, arch="conv", jit_compile=False)
    return fallback, "conv, latent_dim 32, XLA off (vae_tf.recipe has no BEST)"


def build_vae(recipe, precision: str = "float32"):
    """A ``VAE`` of ``recipe``; with ``precision="mixed_bfloat16"``, the bfloat16 option.

    The option computes the layers in bfloat16 (weights stay float32) and casts mu,
    log_var and the logits back to float32, so that sampling and the loss stay float32.
    """
    import keras
    from keras import ops

    from vae_tf.losses import kl_divergence, reconstruction_loss
    from vae_tf.models import VAE, Sampling

    kwargs = dict(
        latent_dim=recipe.latent_dim,
        arch=recipe.arch,
        hidden_units=recipe.hidden_units,
        seed=recipe.seed,
    )
    if precision == "float32":
        return VAE(**kwargs)

    class Bfloat16VAE(VAE):
        def compute_losses(self, x, training=False):
            mu, log_var = self.encoder(x, training=training)
            mu, log_var = ops.cast(mu, "float32"), ops.cast(log_var, "float32")
            z = self.sampling([mu, log_var])
            logits = ops.cast(self.decoder(z, training=training), "float32")
            reconstruction = ops.mean(reconstruction_loss(x, logits))
            kl = ops.mean(kl_divergence(mu, log_var))
            loss = self.reconstruction_weight * reconstruction + self.kl_weight * kl
            return {"loss": loss, "reconstruction_loss": reconstruction, "kl_loss": kl}

    keras.mixed_precision.set_global_policy(precision)
    try:
        model = Bfloat16VAE(**kwargs)
        model.sampling = Sampling(seed=recipe.seed, dtype="float32", name="sampling")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


def keras_epoch_runner(
    x: np.ndarray,
    *,
    threads: int,
    recipe=None,
    feed: str = "dataset",
    binarize: str = "none",
    precision: str = "float32",
    **compile_kwargs,
) -> Callable[[], object]:
    """A function that trains one epoch of ``x`` with ``fit`` (the model is built once).

    ``feed``: "dataset" (``make_dataset``, as ``load_mnist`` builds it, with its
    ``tf.data`` thread pool capped at ``threads``) or "numpy" (``model.fit(x,
    batch_size=...)``, Keras' own array adapter).
    """
    import tensorflow as tf

    from vae_tf.config import set_seed
    from vae_tf.data import make_dataset
    from vae_tf.recipe import ORIGINAL

    recipe = ORIGINAL if recipe is None else recipe
    set_seed(recipe.seed)
    model = build_vae(recipe, precision)
    model.compile(recipe=recipe, **compile_kwargs)
    if feed == "dataset":
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = make_dataset(
            x, batch_size=recipe.batch_size, shuffle=True, binarize=binarize, seed=recipe.seed
        ).with_options(options)
        return lambda: model.fit(dataset, epochs=1, verbose=0)
    return lambda: model.fit(x, batch_size=recipe.batch_size, epochs=1, verbose=0)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_epoch_runner(x: np.ndarray) -> Callable[[], object]:
    """One epoch of the original study's loop: nn.Module, DataLoader(shuffle=True), Adam
    1e-3, summed binary cross-entropy on sigmoid outputs, analytic KL."""
    import torch
    from torch import nn
    from torch.nn import functional

    torch.manual_seed(0)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Flatten(),
                nn.Linear(PIXELS, HIDDEN),
                nn.ReLU(),
                nn.Linear(HIDDEN, 2 * LATENT_DIM),
            )
            self.decoder = nn.Sequential(
                nn.Linear(LATENT_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, PIXELS), nn.Sigmoid()
            )

        def forward(self, images):
            mu, log_var = self.encoder(images).chunk(2, dim=-1)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            return self.decoder(z), mu, log_var

    model = TorchVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tensor = torch.from_numpy(x.reshape(len(x), 1, 28, 28))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tensor), batch_size=BATCH_SIZE, shuffle=True
    )

    def epoch() -> None:
        for (batch,) in loader:
            reconstruction, mu, log_var = model(batch)
            bce = functional.binary_cross_entropy(
                reconstruction, batch.view(-1, PIXELS), reduction="sum"
            )
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp())
            loss = bce + kl
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def torch_twin_epoch_runner(x: np.ndarray, recipe) -> Callable[[], object]:
    """One epoch of a plain PyTorch twin of ``recipe``'s VAE: the same layers, strides,
    padding and widths as ``vae_tf.models.build_encoder``/``build_decoder``, Adam with the
    recipe's learning rate and epsilon, dynamic binarization of every batch, binary
    cross-entropy from logits summed over pixels and the analytic KL, both averaged over
    the batch."""
    import torch
    from torch import nn
    from torch.nn import functional

    torch.manual_seed(recipe.seed)
    latent, hidden = recipe.latent_dim, recipe.hidden_units
    if recipe.arch == "mlp":
        encoder = nn.Sequential(
            nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent)
        )
        decoder = nn.Sequential(
            nn.Linear(latent, hidden),
            nn.ReLU(),
            nn.Linear(hidden, PIXELS),
            nn.Unflatten(1, (1, 28, 28)),
        )
    else:
        # Keras' "same" padding with 3x3 kernels: padding 1; a stride-2 transposed
        # convolution needs output_padding 1 to double 7 -> 14 -> 28.
        half = hidden // 2 or 1
        encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(7 * 7 * 64, half),
            nn.ReLU(),
            nn.Linear(half, 2 * latent),
        )
        decoder = nn.Sequential(
            nn.Linear(latent, half),
            nn.ReLU(),
            nn.Linear(half, 7 * 7 * 64),
            nn.ReLU(),
            nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1),
        )
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=recipe.learning_rate, eps=recipe.adam_epsilon)
    tensor = torch.from_numpy(x.reshape(len(x), 1, 28, 28))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tensor), batch_size=recipe.batch_size, shuffle=True
    )

    def epoch() -> None:
        for (batch,) in loader:
            batch = torch.bernoulli(batch)  # dynamic binarization
            mu, log_var = encoder(batch).chunk(2, dim=-1)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            logits = decoder(z)
            reconstruction = functional.binary_cross_entropy_with_logits(
                logits, batch, reduction="sum"
            ) / len(batch)
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / len(batch)
            optimizer.zero_grad()
            (reconstruction + kl).backward()
            optimizer.step()

    return epoch


def bfloat16_quality(recipe, updates: int) -> dict[str, dict[str, float]]:
    """Held-out -ELBO and IWAE (k=50), nats per image, after ``updates`` updates in float32
    and in mixed_bfloat16 from the same seed (offline sample, dynamic binarization).

    Both are scored in float32: the bfloat16 run's weights (float32 variables) are
    copied into a float32 model of the same architecture.
    """
    from vae_tf.config import set_seed
    from vae_tf.data import load_mnist
    from vae_tf.evaluation import evaluate_elbo, iwae_nll

    data = load_mnist(
        "sample", batch_size=recipe.batch_size, binarize="dynamic", seed=recipe.seed, verbose=False
    )
    epochs = -(-updates // recipe.steps_per_epoch(len(data.x_train)))
    scores = {}
    for precision in ("float32", "mixed_bfloat16"):
        set_seed(recipe.seed)
        model = build_vae(recipe, precision)
        model.compile(recipe=recipe)
        model.fit(data.train, epochs=epochs, verbose=0)
        scorer = build_vae(recipe)
        scorer.set_weights(model.get_weights())
        scores[precision] = {
            "neg_elbo": evaluate_elbo(scorer, data.x_test, seed=recipe.seed)["neg_elbo"],
            "iwae": iwae_nll(scorer, data.x_test, k=50, seed=recipe.seed),
            "updates": epochs * recipe.steps_per_epoch(len(data.x_train)),
        }
    return scores


SOURCE = "the offline sample (5,000 real MNIST digits)"


def section(
    title: str,
    n_images: int,
    results: dict[str, list[Measurement]],
    comparisons: list[tuple[str, str]],
) -> dict:
    """A JSON-safe record of one interleaved comparison (what the summary reads)."""
    return {
        "title": title,
        "images": n_images,
        "data": f"{SOURCE} repeated to {n_images:,} images per epoch",
        "results": {
            name: [[m.wall, m.cpu] for m in measurements] for name, measurements in results.items()
        },
        "comparisons": [list(pair) for pair in comparisons],
    }


def comparison_lines(report: dict) -> list[str]:
    """The speed-up lines of one worker's report: per comparison, PyTorch seconds / Keras
    seconds (how many times faster Keras ran), median and range over the rounds."""
    threads = report["threads"]
    lines = []
    for part in report["sections"]:
        results = {
            name: [Measurement(*pair) for pair in rows] for name, rows in part["results"].items()
        }
        for keras_name, torch_name in part["comparisons"]:
            ratio = paired_ratio(results[torch_name], results[keras_name])
            lines.append(
                speedup_line(
                    f"{threads} thread{'s' if threads > 1 else ''}, {part['title']} "
                    f"({part['data']}): {keras_name} vs {torch_name}",
                    ratio,
                )
            )
    return lines


def worker(args: argparse.Namespace) -> dict:
    """Every comparison at one thread count, in this process; returns the report."""
    (threads,) = args.threads
    pin_threads(threads)  # before TensorFlow or PyTorch runs anything

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices: each row builds a new model
    has_torch = torch_available()
    versions = f"TensorFlow {tf.__version__}"
    if has_torch:
        import torch

        versions += f", PyTorch {torch.__version__} ({torch.get_num_threads()} threads)"
    print(
        f"\n##### {threads} thread{'s' if threads > 1 else ''} for each framework "
        f"(TensorFlow intra-op {tf.config.threading.get_intra_op_parallelism_threads()}, "
        f"inter-op {tf.config.threading.get_inter_op_parallelism_threads()}) #####"
    )
    print(
        f"{versions}; {os.cpu_count()} CPU cores; {args.repeats} interleaved rounds after one "
        f"untimed warm-up epoch each; load average before: "
        f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    if not has_torch:
        print("No PyTorch to compare with (pip install torch==2.13.0 to add it).")
    report: dict = {"threads": threads, "sections": []}

    peak = matmul_peak_flops()
    print(f"float32 matmul peak (2048x2048, {threads} thread(s)): {peak / 1e9:.1f} GFLOP/s")
    x = images(args.images)
    title = "default path (MLP 784-512-2, batch 128)"
    print(f"\n== The {title}, compile(), fit; {SOURCE} repeated to {len(x):,} per epoch ==")
    keras_name = "Keras fit(data.train) (tf.data, XLA)"
    contenders = {keras_name: keras_epoch_runner(x, threads=threads)}
    contenders["Keras fit(x_train) (NumPy arrays)"] = keras_epoch_runner(
        x, threads=threads, feed="numpy"
    )
    if args.ablations:
        contenders["Keras, jit_compile=False"] = keras_epoch_runner(
            x, threads=threads, jit_compile=False
        )
        contenders["Keras, steps_per_execution=1"] = keras_epoch_runner(
            x, threads=threads, steps_per_execution=1
        )
    if args.bfloat16:
        contenders["Keras, mixed_bfloat16"] = keras_epoch_runner(
            x, threads=threads, precision="mixed_bfloat16"
        )
    torch_name = "PyTorch loop of the original study"
    if has_torch:
        contenders[torch_name] = torch_epoch_runner(x)
    results = interleave(contenders, args.repeats, progress=print)
    print("\n".join(format_table(results, len(x))))
    floor = training_flops_per_image() * len(x) / peak
    keras_median = median_measurement(results[keras_name]).wall
    print(
        f"Compute floor at the matmul peak: {floor:.2f} s/epoch (Keras' default path takes "
        f"{keras_median / floor:.1f}x that)"
    )
    comparisons = [(name, torch_name) for name in contenders if name != torch_name]
    if has_torch:
        report["sections"].append(section(title, len(x), results, comparisons))
    if args.ablations:
        for name in ("Keras, jit_compile=False", "Keras, steps_per_execution=1"):
            ratio = paired_ratio(results[name], results[keras_name])
            print(f"{keras_name} vs {name}: {ratio.describe()}")

    if args.conv_images:
        recipe, recipe_source = best_recipe()
        conv_x = images(args.conv_images)
        title = f"best recipe ({recipe_source})"
        print(f"\n== The {title}: {recipe.describe()} ==")
        print(f"Images: {SOURCE} repeated to {len(conv_x):,} per epoch")
        keras_conv = f"Keras {recipe.arch}, XLA {'on' if recipe.xla else 'off'}"
        contenders = {
            keras_conv: keras_epoch_runner(
                conv_x, threads=threads, recipe=recipe, binarize="dynamic"
            )
        }
        if args.bfloat16:
            contenders["Keras conv, mixed_bfloat16"] = keras_epoch_runner(
                conv_x,
                threads=threads,
                recipe=recipe,
                binarize="dynamic",
                precision="mixed_bfloat16",
            )
        twin_name = "PyTorch twin (same layers)"
        if has_torch:
            contenders[twin_name] = torch_twin_epoch_runner(conv_x, recipe)
        results = interleave(contenders, args.repeats, progress=print)
        print("\n".join(format_table(results, len(conv_x))))
        updates = recipe.steps_per_epoch(len(conv_x))
        per_update = median_measurement(results[keras_conv]).wall / updates
        print(f"Keras: {per_update * 1000:.0f} ms per update of {recipe.batch_size} images")
        if has_torch:
            comparisons = [(name, twin_name) for name in contenders if name != twin_name]
            report["sections"].append(section(title, len(conv_x), results, comparisons))

    print()
    print("\n".join(comparison_lines(report)))
    if args.bfloat16 and args.quality_updates > 0:
        print_bfloat16_quality(args.quality_updates)
    print(f"\nLoad average after: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")
    return report


def print_bfloat16_quality(updates: int) -> None:
    from vae_tf.recipe import ORIGINAL

    recipe, _ = best_recipe()
    print(
        f"\n== mixed_bfloat16 vs float32 in nats per image: {updates} updates "
        "or more (whole epochs) on the offline sample's 4,000 training images, dynamic "
        "binarization; scored in float32 on its 1,000 held-out images binarized once =="
    )
    print(f"{'model':<24} {'precision':<16} {'updates':>7} {'-ELBO':>8} {'IWAE k=50':>10}")
    for name, model_recipe in (("default MLP (latent 2)", ORIGINAL), ("best recipe", recipe)):
        scores = bfloat16_quality(model_recipe, updates)
        for precision, score in scores.items():
            print(
                f"{name:<24} {precision:<16} {score['updates']:>7} "
                f"{score['neg_elbo']:8.2f} {score['iwae']:10.2f}"
            )
        change = scores["mixed_bfloat16"]["iwae"] - scores["float32"]["iwae"]
        print(
            f"{'':<24} bfloat16 changes the IWAE by {change:+.2f} nats per image "
            f"({'worse' if change > 0 else 'better'}; one seed, so read small "
            "differences as noise)"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Each thread count runs in its own process (TensorFlow fixes its thread pools "
        "at its first op); within it the runs are interleaved.",
    )

    def threads_type(value: str) -> int:
        try:
            return positive_threads(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    def count(name: str, minimum: int):
        def parse(value: str) -> int:
            try:
                number = int(value)
            except ValueError:
                number = None
            if number is None or number < minimum:
                raise argparse.ArgumentTypeError(
                    f"{name} must be an integer >= {minimum}, got {value!r}"
                )
            return number

        return parse

    parser.add_argument(
        "--threads",
        type=threads_type,
        nargs="+",
        default=[1, 2],
        help="thread counts to compare at, the same for TensorFlow and PyTorch (default: 1 2)",
    )
    parser.add_argument(
        "--repeats",
        type=count("--repeats", 1),
        default=5,
        help="timed interleaved rounds after the warm-up (default: 5)",
    )
    parser.add_argument(
        "--images",
        type=count("--images", 128),
        default=60_000,
        help="images per MLP epoch (default: 60,000, MNIST's training set size)",
    )
    parser.add_argument(
        "--conv-images",
        type=count("--conv-images", 0),
        default=10_000,
        help="images per epoch of the best-recipe rows (0: skip them; default: 10,000)",
    )
    parser.add_argument(
        "--ablations",
        action="store_true",
        help="also time the default path with XLA off and with one step per execution",
    )
    parser.add_argument(
        "--bfloat16", action="store_true", help="also time (and score) the mixed_bfloat16 option"
    )
    parser.add_argument(
        "--quality-updates",
        type=count("--quality-updates", 0),
        default=400,
        help="with --bfloat16: updates of the float32 vs bfloat16 comparison in nats (0: skip)",
    )
    parser.add_argument("--json", help=argparse.SUPPRESS)  # a worker's report, for the parent
    args = parser.parse_args(argv)
    if len(set(args.threads)) != len(args.threads):
        parser.error(f"--threads: each thread count once, got {args.threads}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if len(args.threads) == 1:
        report = worker(args)
        if args.json:
            Path(args.json).write_text(json.dumps(report))
        return
    # One process per thread count: TensorFlow cannot change its pools once it has run.
    reports = []
    with tempfile.TemporaryDirectory() as folder:
        for threads in args.threads:
            out = Path(folder) / f"threads-{threads}.json"
            forwarded = [
                "--threads",
                str(threads),
                "--repeats",
                str(args.repeats),
                "--images",
                str(args.images),
                "--conv-images",
                str(args.conv_images),
                "--quality-updates",
                str(args.quality_updates),
                "--json",
                str(out),
            ]
            forwarded += ["--ablations"] * args.ablations + ["--bfloat16"] * args.bfloat16
            completed = subprocess.run([sys.executable, __file__, *forwarded], check=False)
            if completed.returncode != 0:
                raise SystemExit(
                    f"train_speed.py: the run with {threads} threads failed "
                    f"(exit code {completed.returncode})"
                )
            reports.append(json.loads(out.read_text()))
    print("\n##### Summary: PyTorch seconds / Keras seconds (above 1: Keras faster) #####")
    for report in reports:
        print("\n".join(comparison_lines(report)))


if __name__ == "__main__":
    main()
