"""How fast does the default training path run on this CPU?

Times one epoch of 60,000 images (the size of MNIST's training set) for the path a
student takes: ``VAE(latent_dim=2)``, ``compile()``, ``fit(batch_size=128)``. For context
it also prints the same model with XLA off, the fraction of the machine's float32 peak
reached (from a matrix multiply timed in the same run) and, when PyTorch is installed,
the original study's plain PyTorch loop on the same images and the ratio.

The images are the offline sample (5,000 real digits) repeated to 60,000: the speed of
an epoch does not depend on which digits it sees. Figures vary between runs on a shared
machine; compare the ratios printed by one run.

Usage: python benchmarks/train_speed.py [--epochs 2] [--images 60000]
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


class EpochTimer:
    def __init__(self):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._start)

        self.callback = _Timer()


def keras_epoch_seconds(x: np.ndarray, epochs: int, **compile_kwargs) -> float:
    """Best epoch time of the default path (the first epoch includes tracing/compiling)."""
    from vae_tf.config import set_seed
    from vae_tf.data import make_dataset
    from vae_tf.models import VAE

    set_seed(0)
    model = VAE(latent_dim=LATENT_DIM)
    model.compile(**compile_kwargs)
    timer = EpochTimer().callback
    dataset = make_dataset(x, batch_size=BATCH_SIZE, shuffle=True, seed=0)
    model.fit(dataset, epochs=epochs + 1, verbose=0, callbacks=[timer])
    return min(timer.times[1:])


def torch_epoch_seconds(x: np.ndarray, epochs: int) -> float | None:
    """The original study's loop: nn.Module, DataLoader(shuffle=True), Adam 1e-3,
    summed binary cross-entropy on sigmoid outputs, analytic KL."""
    try:
        import torch
        from torch import nn
        from torch.nn import functional
    except ImportError:
        return None

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
    times = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
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
    return min(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs (after one warm-up)")
    parser.add_argument("--images", type=int, default=60_000, help="images per epoch")
    args = parser.parse_args()

    import tensorflow as tf

    x = images(args.images)
    print(f"Images: the offline sample (5,000 real MNIST digits) repeated to {len(x):,} per epoch")
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores; batch size {BATCH_SIZE}, "
        f"best of {args.epochs} epochs after a warm-up epoch"
    )
    peak = matmul_peak_flops()
    flops_epoch = training_flops_per_image() * len(x)
    print(f"float32 matmul peak (2048x2048, same run): {peak / 1e9:.1f} GFLOP/s")

    rows = []
    default = keras_epoch_seconds(x, args.epochs)
    rows.append(("Keras default path (XLA on)", default))
    no_xla = keras_epoch_seconds(x, args.epochs, jit_compile=False)
    rows.append(("Keras, jit_compile=False", no_xla))
    one_step = keras_epoch_seconds(x, args.epochs, steps_per_execution=1)
    rows.append(("Keras, steps_per_execution=1", one_step))
    torch_seconds = torch_epoch_seconds(x, args.epochs)
    if torch_seconds is not None:
        rows.append(("PyTorch loop of the original study", torch_seconds))

    print(f"\n{'path':<38} {'s/epoch':>8} {'images/s':>10} {'of peak':>8}")
    for name, seconds in rows:
        print(
            f"{name:<38} {seconds:8.2f} {len(x) / seconds:10.0f} "
            f"{flops_epoch / seconds / peak:8.1%}"
        )
    print(
        f"\nSpeed-up from XLA: {no_xla / default:.2f}x; "
        f"from 16 steps per execution: {one_step / default:.2f}x"
    )
    floor = flops_epoch / peak
    print(
        f"Compute floor at the matmul peak: {floor:.2f} s/epoch "
        f"(the default path takes {default / floor:.1f}x that)"
    )
    if torch_seconds is None:
        print("PyTorch is not installed: no comparison (pip install torch to add it).")
    else:
        print(
            f"Default path vs the PyTorch loop: {torch_seconds / default:.2f}x "
            f"({'faster' if default < torch_seconds else 'slower'}; target: 2x faster)"
        )


if __name__ == "__main__":
    main()
