"""Does the Keras VAE learn as well as the same recipe written in plain PyTorch?

Trains the original study's VAE recipe with a 20-dimensional latent space (MLP
784-512-20, Adam 1e-3, batch 128, 20 epochs, dynamic binarization) once with
``vae_tf`` and once in plain PyTorch, then scores both on the same held-out images,
binarized once with a fixed seed, with the IWAE estimate of -log p(x) (k samples).
Prints both in nats per image and the difference; the target is within 1 nat.

Both frameworks get the same number of threads (``--threads``, set before either runs an
op), the two runs of a seed alternate in order from seed to seed (Keras first, then
PyTorch first, ...), and each run's wall-clock and process CPU seconds (training and
scoring) are printed.

Needs PyTorch (``pip install torch==2.13.0``, the CPU build). Usage:
    python benchmarks/iwae_vs_pytorch.py [--data sample] [--epochs 20] [--k 500] [--seeds 0]
        [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

import vae_tf  # noqa: F401  (first: importing it hides TensorFlow's C++ log lines)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_harness import (  # noqa: E402
    Measurement,
    measure,
    paired_ratio,
    pin_threads,
    positive_threads,
)

LATENT_DIM = 20
HIDDEN = 512
BATCH_SIZE = 128


def keras_run(data, epochs: int, k: int, seed: int, test_images: np.ndarray) -> float:
    from vae_tf.config import set_seed
    from vae_tf.evaluation import iwae_nll
    from vae_tf.models import VAE

    set_seed(seed)
    model = VAE(latent_dim=LATENT_DIM, seed=seed)
    model.compile()
    model.fit(data.train, epochs=epochs, verbose=0)
    return iwae_nll(model, test_images, k=k, seed=seed)


def torch_run(
    x_train: np.ndarray, epochs: int, k: int, seed: int, test_images: np.ndarray
) -> float:
    import torch
    from torch import nn
    from torch.nn import functional

    torch.manual_seed(seed)

    class TorchVAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(784, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2 * LATENT_DIM)
            )
            self.decoder = nn.Sequential(
                nn.Linear(LATENT_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 784)
            )

        def encode(self, x):
            mu, log_var = self.encoder(x).chunk(2, dim=-1)
            return mu, log_var

    model = TorchVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    grey = torch.from_numpy(x_train.reshape(len(x_train), 784))
    for _ in range(epochs):
        order = torch.randperm(len(grey))
        for start in range(0, len(grey), BATCH_SIZE):
            x = torch.bernoulli(grey[order[start : start + BATCH_SIZE]])  # dynamic binarization
            mu, log_var = model.encode(x)
            z = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
            logits = model.decoder(z)
            reconstruction = functional.binary_cross_entropy_with_logits(
                logits, x, reduction="sum"
            ) / len(x)
            kl = -0.5 * torch.sum(1 + log_var - mu.pow(2) - log_var.exp()) / len(x)
            optimizer.zero_grad()
            (reconstruction + kl).backward()
            optimizer.step()

    x_test = torch.from_numpy(test_images.reshape(len(test_images), 784))
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x_test), 50):
            x = x_test[start : start + 50]
            mu, log_var = model.encode(x)
            eps = torch.randn(len(x), k, LATENT_DIM)
            z = mu[:, None] + torch.exp(0.5 * log_var)[:, None] * eps
            logits = model.decoder(z)
            log_px = -functional.binary_cross_entropy_with_logits(
                logits, x[:, None].expand_as(logits), reduction="none"
            ).sum(-1)
            log_pz = -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(-1)
            log_qz = -0.5 * (math.log(2 * math.pi) + log_var[:, None] + eps.pow(2)).sum(-1)
            log_w = log_px + log_pz - log_qz
            total += float((torch.logsumexp(log_w, dim=1) - math.log(k)).sum())
    return -total / len(x_test)


def _threads(value: str) -> int:
    try:
        return positive_threads(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sample", help="data source (see vae-tf train --help)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--k", type=int, default=500, help="importance samples per image")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--threads",
        type=_threads,
        default=2,
        help="threads for TensorFlow and for PyTorch alike (default: 2)",
    )
    args = parser.parse_args()
    pin_threads(args.threads)  # before either framework runs an op

    from vae_tf.data import binarize_images, load_mnist

    data = load_mnist(args.data, binarize="dynamic", seed=0)
    test_images = binarize_images(data.x_test, seed=1234)
    print(
        f"Recipe: MLP 784-{HIDDEN}-{LATENT_DIM}, Adam 1e-3, batch {BATCH_SIZE}, "
        f"{args.epochs} epochs, dynamic binarization; IWAE with k={args.k} on "
        f"{len(test_images):,} held-out images binarized once (seed 1234); data: "
        f"{data.source_description}; {args.threads} thread(s) for each framework"
    )
    print()
    print(
        f"{'seed':>4} {'Keras IWAE':>12} {'PyTorch IWAE':>13} {'difference':>11}   (nats per image)"
    )
    differences = []
    seconds: dict[str, list[Measurement]] = {"Keras": [], "PyTorch": []}
    for index, seed in enumerate(args.seeds):
        nll: dict[str, float] = {}
        runs = {
            "Keras": (keras_run, data),
            "PyTorch": (torch_run, data.x_train),
        }
        order = ["Keras", "PyTorch"] if index % 2 == 0 else ["PyTorch", "Keras"]
        for name in order:
            run, train = runs[name]
            nll[name], measurement = measure(run, train, args.epochs, args.k, seed, test_images)
            seconds[name].append(measurement)
        keras_time, torch_time = seconds["Keras"][-1], seconds["PyTorch"][-1]
        differences.append(nll["Keras"] - nll["PyTorch"])
        print(
            f"{seed:>4} {nll['Keras']:12.2f} {nll['PyTorch']:13.2f} {differences[-1]:+11.2f}"
            f"   (train+eval: Keras {keras_time.wall:.0f} s, {keras_time.cpu:.0f} CPU s; "
            f"PyTorch {torch_time.wall:.0f} s, {torch_time.cpu:.0f} CPU s)"
        )
    mean = float(np.mean(differences))
    print(
        f"\nMean difference Keras - PyTorch: {mean:+.2f} nats per image "
        f"({'within' if abs(mean) <= 1 else 'NOT within'} 1 nat)"
    )
    ratio = paired_ratio(seconds["PyTorch"], seconds["Keras"])
    print(
        f"Training and scoring time, PyTorch seconds / Keras seconds per seed (above 1: Keras "
        f"faster), {args.threads} thread{'s' if args.threads > 1 else ''} each: "
        + ratio.describe().replace("interleaved rounds", "seeds, order alternating")
    )


if __name__ == "__main__":
    main()
