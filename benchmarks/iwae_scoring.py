"""How long the IWAE estimate of -log p(x) takes to score a test set (issue 17).

Builds a VAE of the chosen architecture, trains it for a few hundred updates on the real
MNIST training subset (``--train-idx``, its first images; the last ``--holdout`` held out)
so that its posteriors and decoder outputs are realistic, or loads a trained one
(``--run DIR``, a folder written by ``vae-tf train``), then scores ``--images`` held-out
images (binarized once, seed 0; repeated in order when more are asked than there are,
and the output says so) with ``vae_tf.evaluation.iwae_nll`` at ``--k`` importance samples.

Prints the IWAE estimate (nats per image), images per second, wall-clock and process CPU
seconds (compiling included), and the
time extrapolated to 10,000 images; the target of issue 17 is 10,000 images at k = 500
within 5 minutes on 2 cores.

Architectures (``--arch``):
  conv      the convolutional VAE of lesson 08 (``vae_tf.recipe.CONV_LESSON``, latent 16)
  conv-mlp  the same convolutional encoder with a lighter MLP decoder (latent 16)
  mlp       the MLP 784-512-512-32 of ``vae_tf.recipe.BEST``

Usage: python benchmarks/iwae_scoring.py [--arch conv|conv-mlp|mlp] [--images 10000]
       [--k 500] [--threads 2] [--updates 300] [--run DIR] [--train-idx FOLDER]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import vae_tf  # noqa: F401  (first: importing it hides TensorFlow's C++ log lines)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed_harness import pin_threads, positive_threads  # noqa: E402

TARGET_IMAGES = 10_000
TARGET_SECONDS = 300.0
TARGET_K = 500
DEFAULT_TRAIN_IDX = "/work/shared/data/mnist-train-subset"
ARCHES = ("conv", "conv-mlp", "mlp")
XLA_CHOICES = {"auto": None, "on": True, "off": False}


def recipe_for(arch: str, updates: int):
    """The recipe whose network ``arch`` names, trained for ``updates`` updates."""
    from vae_tf.recipe import BEST, CONV_LESSON

    if arch == "mlp":
        base = BEST.replace(early_stopping_patience=0, validation_fraction=0.0)
        base = base.replace(kl_warmup_updates=min(BEST.kl_warmup_updates, updates // 3))
    elif arch == "conv":
        base = CONV_LESSON
    else:
        base = CONV_LESSON.replace(decoder_arch="mlp")
    return base.replace(updates=updates, lr_schedule="constant")


def repeated(images, count: int):
    """The first ``count`` of ``images``, repeated in order when there are fewer."""
    import numpy as np

    reps = math.ceil(count / len(images))
    return np.concatenate([images] * reps)[:count] if reps > 1 else images[:count]


def data_sentence(description: str, available: int, count: int) -> str:
    """Which images were scored, saying whether they were repeated."""
    if count <= available:
        return f"{count:,} of the {available:,} held-out images ({description})"
    return (
        f"the {available:,} held-out images ({description}), repeated {count / available:.2f} "
        f"times to {count:,} images (repeats time the scoring, they add no new data)"
    )


def report_lines(*, images: int, k: int, wall: float, cpu: float, threads: int) -> list[str]:
    """The timing lines: images per second, both clocks, and the 10,000-image extrapolation.

    The seconds include tracing and XLA compiling (each ``iwae_nll`` call compiles once),
    so the extrapolation from a few images is on the slow side."""
    per_second = images / wall
    extrapolated = TARGET_IMAGES / per_second
    minutes = f"{TARGET_SECONDS / 60:.0f}-minute target"
    if k != TARGET_K:
        verdict = f"no verdict: the {minutes} is for k={TARGET_K}"
    elif extrapolated <= TARGET_SECONDS:
        verdict = f"within the {minutes}"
    else:
        verdict = f"NOT within the {minutes}"
    return [
        f"{images:,} images x k={k}: {wall:.1f} s wall clock, {cpu:.1f} CPU s "
        f"of the process ({cpu / wall:.2f} cores busy), {per_second:.1f} images per second "
        "(compiling included)",
        f"Extrapolated to {TARGET_IMAGES:,} images at k={k} on {threads} thread(s): "
        f"{extrapolated:.0f} s ({extrapolated / 60:.1f} minutes), {verdict}",
    ]


def _positive(name: str):
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = 0
        if number < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {value!r}")
        return number

    return parse


def _threads(value: str) -> int:
    try:
        return positive_threads(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Architectures: conv (lesson 08), conv-mlp (conv encoder, MLP decoder), "
        "mlp (BEST). Figures are in nats per image and seconds.",
    )
    parser.add_argument("--arch", choices=ARCHES, default="conv", help="default: conv")
    parser.add_argument(
        "--images", type=_positive("--images"), default=TARGET_IMAGES, help="default: 10,000"
    )
    parser.add_argument("--k", type=_positive("--k"), default=TARGET_K, help="default: 500")
    parser.add_argument("--threads", type=_threads, default=2, help="default: 2")
    parser.add_argument(
        "--updates", type=_positive("--updates"), default=300, help="training updates (300)"
    )
    parser.add_argument("--holdout", type=_positive("--holdout"), default=2_699)
    parser.add_argument("--train-idx", default=DEFAULT_TRAIN_IDX, help="real MNIST subset")
    parser.add_argument(
        "--run", type=Path, help="a run folder with model.keras (no training; --arch ignored)"
    )
    parser.add_argument(
        "--chunk-size", type=_positive("--chunk-size"), help="images per compiled call"
    )
    parser.add_argument(
        "--xla",
        choices=XLA_CHOICES,
        default="auto",
        help="XLA for the scoring step; auto (default): on unless the decoder has convolutions",
    )
    args = parser.parse_args(argv)
    if args.run is not None and not (args.run / "model.keras").is_file():
        parser.error(f"--run {args.run}: no model.keras in that folder")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    pin_threads(args.threads, torch=False)  # before TensorFlow runs an op

    import keras
    from best_recipe import load_train_subset

    from vae_tf.data import binarize_images
    from vae_tf.evaluation import IwaeProgress, iwae_nll, use_xla_for

    data = load_train_subset(args.train_idx, args.holdout)
    if args.run is not None:
        import vae_tf.models  # noqa: F401  (registers VAE for load_model)

        model = keras.models.load_model(args.run / "model.keras")
        trained = f"loaded from {args.run / 'model.keras'}"
    else:
        from vae_tf.training import train_vae

        recipe = recipe_for(args.arch, args.updates)
        started = time.perf_counter()
        model, _ = train_vae(data, recipe, progress=False)
        trained = (
            f"{args.arch}: {recipe.describe()}; trained {args.updates} updates "
            f"in {time.perf_counter() - started:.0f} s"
        )
    print(f"Model: {trained}")
    images = repeated(binarize_images(data.x_test, seed=0), args.images)
    print(
        f"Data: {data_sentence(data.source_description, len(data.x_test), args.images)}; "
        "binarized once (seed 0)"
    )
    jit_compile = XLA_CHOICES[args.xla]
    xla = use_xla_for(model) if jit_compile is None else jit_compile
    print(f"Scoring step: XLA {'on' if xla else 'off'} (--xla {args.xla}), k={args.k}")
    options = {"k": args.k, "chunk_size": args.chunk_size, "jit_compile": jit_compile}

    started, cpu_started = time.perf_counter(), time.process_time()
    nll = iwae_nll(model, images, progress=IwaeProgress(args.k, file=sys.stdout), **options)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(f"IWAE k={args.k}: {nll:.2f} nats per image (-log p(x) estimate, these images)")
    for line in report_lines(
        images=args.images,
        k=args.k,
        wall=wall,
        cpu=cpu,
        threads=args.threads,
    ):
        print(line)


if __name__ == "__main__":
    main()
