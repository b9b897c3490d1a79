"""How fast does training run on this CPU, against the same training in plain PyTorch?

Two recipes, each timed against a PyTorch twin in the same run:

- **the default path** (MLP): one epoch of 60,000 images (the size of MNIST's training set)
  for ``VAE(latent_dim=2)``, ``compile()``, ``fit(batch_size=128)``, fed two ways: the
  package's ``tf.data`` pipeline (``fit(data.train)``) and NumPy arrays
  (``fit(x_train, batch_size=128)``, Keras' own array adapter: turning the arrays into the
  package's pipeline inside ``fit`` was tried and measured 0.80x to 1.12x of it over four
  runs, no gain beyond noise, so it was not kept). For context: XLA off, one
  step per execution, the mixed_bfloat16 option, the fraction of the machine's float32
  matmul peak, and the original study's PyTorch loop.
- **the best recipe** (conv): ``vae_tf.recipe.BEST`` when it exists, else a convolutional
  VAE with latent_dim 32, XLA off (XLA makes this model slower on a CPU), dynamic
  binarization; against a PyTorch twin with the same layers, on fewer images per epoch
  (``--conv-images``).

The mixed_bfloat16 option (bfloat16 matmuls and convolutions, float32 weights and loss)
is timed and also scored: the same seed trained with float32 and with bfloat16 for
``--quality-updates`` updates on the offline sample, then the held-out -ELBO and IWAE
(nats per image), both evaluated in float32. A faster option that is worse in nats is
not a default.

The images are the offline sample (5,000 real digits) repeated to the epoch's size: the
speed of an epoch does not depend on which digits it sees. Figures vary between runs on a
shared machine; compare the ratios printed by one run.

Usage: python benchmarks/train_speed.py [--epochs 2] [--images 60000] [--conv-images 10000]
       [--quality-updates 400] [--no-bfloat16]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import vae_tf  # noqa: F401  (first: importing it hides TensorFlow's C++ log lines)

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


class Timing(float):
    """Wall-clock seconds of the fastest timed epoch, with ``cpu``: the CPU seconds the
    whole process used in that epoch (all threads). On a machine shared with other jobs
    the wall clock stretches with their load; CPU seconds much less so."""

    cpu: float

    def __new__(cls, wall: float, cpu: float) -> Timing:
        timing = super().__new__(cls, wall)
        timing.cpu = cpu
        return timing


def best_epoch(walls: list[float], cpus: list[float]) -> Timing:
    """The fastest epoch after the first (which includes tracing and compiling)."""
    best = min(range(1, len(walls)), key=walls.__getitem__)
    return Timing(walls[best], cpus[best])


class EpochTimer:
    def __init__(self):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times: list[float] = []
                self.cpu_times: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter(), time.process_time()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._start[0])
                self.cpu_times.append(time.process_time() - self._start[1])

        self.callback = _Timer()


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


def keras_epoch_seconds(
    x: np.ndarray,
    epochs: int,
    *,
    recipe=None,
    feed: str = "dataset",
    binarize: str = "none",
    precision: str = "float32",
    **compile_kwargs,
) -> Timing:
    """Best epoch time (the first epoch includes tracing/compiling).

    ``feed``: "dataset" (``make_dataset``, as ``load_mnist`` builds it) or "numpy"
    (``model.fit(x, batch_size=...)``, Keras' own array adapter).
    """

    from vae_tf.config import set_seed
    from vae_tf.data import make_dataset
    from vae_tf.recipe import ORIGINAL

    recipe = ORIGINAL if recipe is None else recipe
    set_seed(recipe.seed)
    model = build_vae(recipe, precision)
    model.compile(recipe=recipe, **compile_kwargs)
    timer = EpochTimer().callback
    fit_kwargs = dict(epochs=epochs + 1, verbose=0, callbacks=[timer])
    if feed == "dataset":
        dataset = make_dataset(
            x, batch_size=recipe.batch_size, shuffle=True, binarize=binarize, seed=recipe.seed
        )
        model.fit(dataset, **fit_kwargs)
    else:
        model.fit(x, batch_size=recipe.batch_size, **fit_kwargs)
    return best_epoch(timer.times, timer.cpu_times)


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_epoch_seconds(x: np.ndarray, epochs: int) -> Timing | None:
    """The original study's loop: nn.Module, DataLoader(shuffle=True), Adam 1e-3,
    summed binary cross-entropy on sigmoid outputs, analytic KL."""
    if not torch_available():
        return None
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
    times, cpu_times = [], []
    for _ in range(epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
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
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return best_epoch(times, cpu_times)


def torch_twin_epoch_seconds(x: np.ndarray, epochs: int, recipe) -> Timing | None:
    """A plain PyTorch twin of ``recipe``'s VAE: the same layers, strides, padding and
    widths as ``vae_tf.models.build_encoder``/``build_decoder``, Adam with the recipe's
    learning rate and epsilon, dynamic binarization of every batch, binary cross-entropy
    from logits summed over pixels and the analytic KL, both averaged over the batch."""
    if not torch_available():
        return None
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
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),
        )
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=recipe.learning_rate, eps=recipe.adam_epsilon)
    tensor = torch.from_numpy(x.reshape(len(x), 1, 28, 28))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(tensor), batch_size=recipe.batch_size, shuffle=True
    )
    times, cpu_times = [], []
    for _ in range(epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        for (batch,) in loader:
            batch = torch.bernoulli(batch)  # dynamic binarization
            mu, log_var = encoder(batch).chunk(2, dim=-1)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            logits = decoder(z)
            assert logits.shape == batch.shape, logits.shape
            reconstruction = functional.binary_cross_entropy_with_logits(
                logits, batch, reduction="sum"
            ) / len(batch)
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / len(batch)
            optimizer.zero_grad()
            (reconstruction + kl).backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return best_epoch(times, cpu_times)


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


def torch_at_best_thread_count(run, *args) -> tuple[Timing | None, Timing | None]:
    """``run(*args)`` with PyTorch's default thread count (one per core) and with one thread.

    On a machine shared with other jobs, PyTorch's two spinning threads can run 2-4 times
    slower than one thread (measured here); the comparison uses the faster of the two, so
    that the ratio does not flatter Keras. Returns (default threads, one thread).
    """
    if not torch_available():
        return None, None
    import torch

    threads = torch.get_num_threads()
    default = run(*args)
    if threads == 1:
        return default, None
    torch.set_num_threads(1)
    try:
        return default, run(*args)
    finally:
        torch.set_num_threads(threads)


def fastest(*timings: Timing | None) -> Timing | None:
    present = [timing for timing in timings if timing is not None]
    return min(present) if present else None


def print_rows(rows: list[tuple[str, Timing | None]], n_images: int, peak_of=None) -> None:
    header = f"{'path':<46} {'s/epoch':>8} {'CPU s':>7} {'images/s':>10}"
    print(header + (f" {'of peak':>8}" if peak_of else ""))
    for name, seconds in rows:
        if seconds is None:
            continue
        line = f"{name:<46} {seconds:8.2f} {seconds.cpu:7.2f} {n_images / seconds:10.0f}"
        print(line + (f" {peak_of(seconds):8.1%}" if peak_of else ""))


def ratio_line(name: str, seconds: Timing, torch_seconds: Timing | None) -> str:
    if torch_seconds is None:
        return f"{name}: no PyTorch to compare with (pip install torch to add it)"
    word = "faster" if seconds < torch_seconds else "slower"
    return (
        f"{name} vs PyTorch (its faster thread count): {torch_seconds / seconds:.2f}x ({word}; target: 2x faster); "
        f"by CPU seconds {torch_seconds.cpu / seconds.cpu:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    parser.add_argument("--images", type=int, default=60_000, help="images per MLP epoch")
    parser.add_argument(
        "--conv-images", type=int, default=10_000, help="images per epoch of the conv rows"
    )
    parser.add_argument(
        "--quality-updates",
        type=int,
        default=400,
        help="updates of the float32 vs bfloat16 comparison in nats (0: skip it)",
    )
    parser.add_argument(
        "--no-bfloat16", action="store_true", help="skip the mixed_bfloat16 option's rows"
    )
    args = parser.parse_args()

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notices: each row builds a new model
    bfloat16 = not args.no_bfloat16
    x = images(args.images)
    source = "the offline sample (5,000 real MNIST digits)"
    print(f"Images: {source} repeated to {len(x):,} per epoch (MLP rows)")
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; batch size {BATCH_SIZE}, "
        f"best of {args.epochs} epochs after a warm-up epoch; load average before: "
        f"{', '.join(f'{load:.2f}' for load in os.getloadavg())}"
    )
    peak = matmul_peak_flops()
    flops_epoch = training_flops_per_image() * len(x)
    print(f"float32 matmul peak (2048x2048, same run): {peak / 1e9:.1f} GFLOP/s")

    print("\n== The default path: VAE(latent_dim=2), MLP 784-512-2, compile(), fit ==")
    default = keras_epoch_seconds(x, args.epochs)
    numpy_path = keras_epoch_seconds(x, args.epochs, feed="numpy")
    no_xla = keras_epoch_seconds(x, args.epochs, jit_compile=False)
    one_step = keras_epoch_seconds(x, args.epochs, steps_per_execution=1)
    mlp_bf16 = keras_epoch_seconds(x, args.epochs, precision="mixed_bfloat16") if bfloat16 else None
    torch_default, torch_one = torch_at_best_thread_count(torch_epoch_seconds, x, args.epochs)
    torch_seconds = fastest(torch_default, torch_one)
    print_rows(
        [
            ("fit(data.train): tf.data pipeline, XLA on", default),
            ("fit(x_train, batch_size=128): NumPy arrays", numpy_path),
            ("fit(data.train), jit_compile=False", no_xla),
            ("fit(data.train), steps_per_execution=1", one_step),
            ("option: mixed_bfloat16 (tf.data, XLA on)", mlp_bf16),
            ("PyTorch loop of the original study", torch_default),
            ("  the same with torch.set_num_threads(1)", torch_one),
        ],
        len(x),
        peak_of=lambda seconds: flops_epoch / seconds / peak,
    )
    print(
        f"\nSpeed-up from XLA: {no_xla / default:.2f}x; "
        f"from 16 steps per execution: {one_step / default:.2f}x; "
        f"tf.data pipeline vs NumPy arrays: {numpy_path / default:.2f}x"
        + (f"; mixed_bfloat16 vs float32: {default / mlp_bf16:.2f}x" if mlp_bf16 else "")
    )
    floor = flops_epoch / peak
    print(
        f"Compute floor at the matmul peak: {floor:.2f} s/epoch "
        f"(the default path takes {default / floor:.1f}x that)"
    )
    print(ratio_line("Default path, tf.data", default, torch_seconds))
    print(ratio_line("Default path, NumPy arrays", numpy_path, torch_seconds))

    recipe, recipe_source = best_recipe()
    conv_x = images(args.conv_images)
    print(f"\n== The best recipe ({recipe_source}): {recipe.describe()}, dynamic binarization ==")
    print(f"Images: {source} repeated to {len(conv_x):,} per epoch (best-recipe rows)")
    best = keras_epoch_seconds(conv_x, args.epochs, recipe=recipe, binarize="dynamic")
    best_bf16 = (
        keras_epoch_seconds(
            conv_x, args.epochs, recipe=recipe, binarize="dynamic", precision="mixed_bfloat16"
        )
        if bfloat16
        else None
    )
    twin_default, twin_one = torch_at_best_thread_count(
        torch_twin_epoch_seconds, conv_x, args.epochs, recipe
    )
    twin = fastest(twin_default, twin_one)
    print_rows(
        [
            (f"Keras {recipe.arch}, XLA {'on' if recipe.xla else 'off'}", best),
            ("option: mixed_bfloat16", best_bf16),
            ("PyTorch twin (same layers)", twin_default),
            ("  the same with torch.set_num_threads(1)", twin_one),
        ],
        len(conv_x),
    )
    per_update = best / -(-len(conv_x) // recipe.batch_size)
    print(f"Keras: {per_update * 1000:.0f} ms per update of {recipe.batch_size} images")
    print(ratio_line("Best recipe", best, twin))
    if best_bf16 is not None:
        print(ratio_line("Best recipe with mixed_bfloat16", best_bf16, twin))

    if bfloat16 and args.quality_updates > 0:
        print(
            f"\n== mixed_bfloat16 vs float32 in nats per image: {args.quality_updates} updates "
            "or more (whole epochs) on the offline sample's 4,000 training images, dynamic "
            "binarization; scored in float32 on its 1,000 held-out images binarized once =="
        )
        print(f"{'model':<24} {'precision':<16} {'updates':>7} {'-ELBO':>8} {'IWAE k=50':>10}")
        for name, model_recipe in (("default MLP (latent 2)", None), ("best recipe", recipe)):
            from vae_tf.recipe import ORIGINAL

            model_recipe = ORIGINAL if model_recipe is None else model_recipe
            scores = bfloat16_quality(model_recipe, args.quality_updates)
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
    print(f"\nLoad average after: {', '.join(f'{load:.2f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
