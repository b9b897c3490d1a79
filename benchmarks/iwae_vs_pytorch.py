"""Does the Keras VAE learn as well as the same recipe written in plain PyTorch?

Trains the original study's VAE recipe with a 20-dimensional latent space (MLP
784-512-20, Adam 1e-3, batch 128, 20 epochs, dynamic binarization) once with
``vae_tf`` and once in plain PyTorch, then scores both on the same held-out images,
binarized once with a fixed seed, with the IWAE estimate of -log p(x) (k samples).
Prints both in nats per image and the difference; the target is within 1 nat.

Needs PyTorch (``pip install torch``). Usage:
    python benchmarks/iwae_vs_pytorch.py [--data sample] [--epochs 20] [--k 500] [--seeds 0]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import vae_tf  # noqa: F401  (first: importing it hides TensorFlow's C++ log lines)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sample", help="data source (see vae-tf train --help)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--k", type=int, default=500, help="importance samples per image")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    from vae_tf.data import binarize_images, load_mnist

    data = load_mnist(args.data, binarize="dynamic", seed=0)
    test_images = binarize_images(data.x_test, seed=1234)
    print(
        f"Recipe: MLP 784-{HIDDEN}-{LATENT_DIM}, Adam 1e-3, batch {BATCH_SIZE}, "
        f"{args.epochs} epochs, dynamic binarization; IWAE with k={args.k} on "
        f"{len(test_images):,} held-out images binarized once (seed 1234)"
    )
    print()
    print(
        f"{'seed':>4} {'Keras IWAE':>12} {'PyTorch IWAE':>13} {'difference':>11}   (nats per image)"
    )
    differences = []
    for seed in args.seeds:
        start = time.perf_counter()
        keras_nll = keras_run(data, args.epochs, args.k, seed, test_images)
        keras_seconds = time.perf_counter() - start
        start = time.perf_counter()
        torch_nll = torch_run(data.x_train, args.epochs, args.k, seed, test_images)
        torch_seconds = time.perf_counter() - start
        differences.append(keras_nll - torch_nll)
        print(
            f"{seed:>4} {keras_nll:12.2f} {torch_nll:13.2f} {keras_nll - torch_nll:+11.2f}"
            f"   (train+eval {keras_seconds:.0f} s Keras, {torch_seconds:.0f} s PyTorch)"
        )
    mean = float(np.mean(differences))
    print(
        f"\nMean difference Keras - PyTorch: {mean:+.2f} nats per image "
        f"({'within' if abs(mean) <= 1 else 'NOT within'} 1 nat)"
    )


if __name__ == "__main__":
    main()
