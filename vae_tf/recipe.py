"""The training recipe: every number that says how a model of the course is trained.

One frozen dataclass, :class:`Recipe`, holds the optimizer, the batch size, the training
budget, the architecture, the seed, XLA, the binarization, the weights of the two loss
terms and the fast-setting overrides. ``train_vae``,
``vae-tf train``, ``vae-tf reproduce``, the experiments, ``VAE.compile()`` and the
notebooks all read it, and ``results.json`` records the one that ran (``asdict``).

The budget is counted in **updates** (gradient steps), not epochs, so that a run is
long enough on whatever data it gets: the original study made 9,380 updates (20 epochs
of 60,000 images at batch 128), while 20 epochs of the 4,000-image offline sample are
only 640, too few to show its findings. ``Recipe.epochs_for(n_train)`` turns the budget
into whole epochs (rounded up), so that every image is seen equally often.

Examples
--------
>>> from vae_tf.recipe import ORIGINAL
>>> ORIGINAL.epochs_for(4_000)  # the offline sample: 32 updates per epoch
100
>>> ORIGINAL.replace(latent_dim=8).latent_dim
8
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from vae_tf import validation
from vae_tf.config import fast_mode
from vae_tf.data import BINARIZE_MODES

if TYPE_CHECKING:
    import keras

__all__ = [
    "Recipe",
    "ORIGINAL",
    "BETA_SWEEP",
    "CONV_LESSON",
    "BEST",
    "FAST_OVERRIDES",
    "ORIGINAL_UPDATES",
    "XLA_MIN_UPDATES",
]

# The original study: 20 epochs of 60,000 images in batches of 128 (469 per epoch).
ORIGINAL_UPDATES = 20 * math.ceil(60_000 / 128)

# Below this many updates, compiling the step with XLA costs more CPU than it saves.
XLA_MIN_UPDATES = 300

OPTIMIZERS = ("adam",)
ARCHITECTURES = ("mlp", "conv")
LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Recipe:
    """How a VAE of the course is trained; frozen, so a run cannot change it on the way.

    Parameters
    ----------
    latent_dim : int, default 2
        Size of z; the original study's 2 lets the codes be plotted directly.
    arch : {"mlp", "conv"}, default "mlp"
        "mlp" is the original 784-512-latent network.
    hidden_units : int, default 512
        Width of the hidden layers.
    hidden_layers : int, default 1
        Hidden layers of the encoder and of the decoder (the original study's 1; ``BEST``
        has 2: an MLP 784-512-512-latent).
    decoder_arch : {"mlp", "conv"} or None, default None
        The decoder's architecture when it differs from ``arch`` (None: the same), e.g. a
        convolutional encoder with a lighter MLP decoder.
    optimizer : {"adam"}, default "adam"
    learning_rate : float, default 1e-3
    adam_epsilon : float, default 1e-8
        PyTorch's default (Keras' is 1e-7), as in the original study.
    batch_size : int, default 128
        Images per update.
    updates : int, default 3,200
        The training budget in gradient steps, whatever the data; ``epochs_for`` rounds it
        up to whole epochs. 3,200 is 100 epochs of the offline sample (measured: it
        shows the original's findings there; 300 epochs over-fit) and 7 of full MNIST.
    seed : int, default 0
        Seeds the initial weights, the shuffling, the binarization, the sampling noise and
        the classifier (no global random state is set).
    jit_compile : bool or None, default None
        XLA for the training step; None: on when the run makes at least
        ``XLA_MIN_UPDATES`` updates (compiling costs seconds a short run never earns back).
    steps_per_execution : int, default 16
        Training steps per call from Python (about a fifth faster on a CPU).
    max_train, max_test : int or None
        Use only the first images of each split (None: all of them).
    classifier_epochs : int, default 5
        Epochs of the digit classifier that scores decoded images.
    iwae_k : int, default 100
        Importance samples per image of the IWAE estimate of log p(x).
    binarize : {"none", "dynamic", "static"}, default "none"
        How training images are made binary (see ``vae_tf.data.load_mnist``): "none" keeps
        grey levels, as the original study did; "dynamic" draws a new Bernoulli sample of
        every image each epoch, the standard protocol for scoring in nats.
    lr_schedule : {"constant", "cosine"}, default "constant"
        "cosine": the learning rate falls from ``learning_rate`` to 0 along a half cosine
        over the ``updates`` budget.
    kl_warmup_updates : int, default 0
        The KL weight rises linearly from 0 to its value over this many updates (0: no
        warm-up). Early on, the KL term would otherwise switch latent units off before
        the decoder has learnt to use them.
    early_stopping_patience : int, default 0
        Stop when the -ELBO on the validation images has not improved for this many
        epochs, and keep the best weights (0: train the whole budget).
    validation_fraction : float, default 0.0
        Share of the *training* images held back to choose when to stop (needed by early
        stopping; the held-out test images are never used for that choice).
    fast : bool, default False
        True for the fast setting's variant (see :meth:`for_run`): a smoke run whose
        numbers mean nothing.
    kl_weight : float, default 1.0
        Weight of the KL term of the loss (beta; 1 is the -ELBO; the beta sweep varies it).
        With KL warm-up, the weight the warm-up rises to.
    reconstruction_weight : float, default 1.0
        Weight of the reconstruction term (0 with the loss-terms experiment's "KL only").
    """

    latent_dim: int = 2
    arch: str = "mlp"
    hidden_units: int = 512
    hidden_layers: int = 1
    decoder_arch: str | None = None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    adam_epsilon: float = 1e-8
    batch_size: int = 128
    updates: int = 3_200
    seed: int = 0
    jit_compile: bool | None = None
    steps_per_execution: int = 16
    max_train: int | None = None
    max_test: int | None = None
    classifier_epochs: int = 5
    iwae_k: int = 100
    binarize: str = "none"
    lr_schedule: str = "constant"
    kl_warmup_updates: int = 0
    early_stopping_patience: int = 0
    validation_fraction: float = 0.0
    fast: bool = False
    kl_weight: float = 1.0
    reconstruction_weight: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "latent_dim",
            "hidden_units",
            "hidden_layers",
            "batch_size",
            "updates",
            "steps_per_execution",
            "classifier_epochs",
            "iwae_k",
        ):
            validation.positive_int(name, getattr(self, name))
        for name in ("max_train", "max_test"):
            if getattr(self, name) is not None:
                validation.positive_int(name, getattr(self, name))
        validation.integer("seed", self.seed)
        validation.one_of("arch", self.arch, ARCHITECTURES)
        validation.one_of("decoder_arch", self.decoder_arch, (None, *ARCHITECTURES))
        validation.one_of("optimizer", self.optimizer, OPTIMIZERS)
        validation.positive_float("learning_rate", self.learning_rate)
        validation.positive_float("adam_epsilon", self.adam_epsilon)
        validation.one_of("jit_compile", self.jit_compile, (None, True, False))
        validation.one_of("fast", self.fast, (True, False))
        validation.one_of("binarize", self.binarize, BINARIZE_MODES)
        validation.one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        validation.integer("kl_warmup_updates", self.kl_warmup_updates)
        validation.integer("early_stopping_patience", self.early_stopping_patience)
        for name in ("kl_warmup_updates", "early_stopping_patience"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        validation.non_negative_float("kl_weight", self.kl_weight)
        validation.non_negative_float("reconstruction_weight", self.reconstruction_weight)
        fraction = validation.non_negative_float("validation_fraction", self.validation_fraction)
        if fraction >= 0.5:
            raise ValueError(
                f"validation_fraction must be below 0.5 (a share of the training images), "
                f"got {fraction}"
            )
        if self.early_stopping_patience and not fraction:
            raise ValueError(
                "early_stopping_patience needs validation_fraction > 0: the images that "
                "decide when to stop are held back from the training images"
            )

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` applied (and checked), e.g. ``recipe.replace(seed=1)``."""
        return dataclasses.replace(self, **changes)

    def for_run(self) -> Recipe:
        """This recipe, or its fast variant when ``VAE_TF_FAST=1`` (CI, smoke runs).

        The fast variant applies :data:`FAST_OVERRIDES`: a few updates on a slice of the
        data; its numbers only show that the code runs.
        """
        return self.replace(**FAST_OVERRIDES) if fast_mode() else self

    def to_dict(self) -> dict[str, Any]:
        """The recipe as a JSON-safe dict, for ``results.json`` and ``history.json``."""
        return asdict(self)

    @property
    def xla(self) -> bool:
        """Whether the training step is compiled with XLA (``jit_compile``, else by budget)."""
        if self.jit_compile is not None:
            return self.jit_compile
        return self.updates >= XLA_MIN_UPDATES

    def held_back(self, n_train: int) -> int:
        """Training images held back for early stopping (0 without it; at least 1 with it)."""
        validation.positive_int("n_train", n_train)
        if not self.early_stopping_patience:
            return 0
        return max(1, round(n_train * self.validation_fraction))

    def steps_per_epoch(self, n_train: int) -> int:
        """Updates in one pass over ``n_train`` images (the last batch may be smaller)."""
        return math.ceil(validation.positive_int("n_train", n_train) / self.batch_size)

    def epochs_for(self, n_train: int) -> int:
        """Whole epochs that make at least ``updates`` updates on ``n_train`` images."""
        return math.ceil(self.updates / self.steps_per_epoch(n_train))

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        """A fresh Keras optimizer with this recipe's settings."""
        import keras

        learning_rate: Any = self.learning_rate
        if self.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                self.learning_rate, decay_steps=self.updates
            )
        return keras.optimizers.Adam(learning_rate=learning_rate, epsilon=self.adam_epsilon)

    def describe(self, n_train: int | None = None) -> str:
        """One line for progress messages and reports, e.g. ``"MLP 784-512-2, Adam 0.001, ..."``.

        With ``n_train``, the budget is also given in epochs of that many images (less
        those held back for early stopping).
        """
        budget = f"{self.updates:,} updates"
        if n_train is not None:
            n_train -= self.held_back(n_train)
            budget += (
                f" ({self.epochs_for(n_train)} epochs x {self.steps_per_epoch(n_train)} updates "
                f"of {n_train:,} images)"
            )
        schedule = ", cosine decay" if self.lr_schedule == "cosine" else ""
        if self.arch == "mlp":
            hidden = "-".join([str(self.hidden_units)] * self.hidden_layers)
            network = f"MLP 784-{hidden}-{self.latent_dim}"
        else:
            dense = " x ".join([str(self.hidden_units // 2 or 1)] * self.hidden_layers)
            network = f"convolutional (32 and 64 filters, dense {dense}, latent {self.latent_dim})"
        if self.decoder_arch not in (None, self.arch):
            network += f", {self.decoder_arch.upper() if self.decoder_arch == 'mlp' else 'convolutional'} decoder"
        text = (
            f"{network}, "
            f"{self.optimizer.capitalize()} (learning rate {self.learning_rate:g}{schedule}), "
            f"batch {self.batch_size}, {budget}"
        )
        if self.binarize != "none":
            text += f", {self.binarize} binarization"
        if (self.kl_weight, self.reconstruction_weight) != (1.0, 1.0):
            text += (
                f", loss weights KL {self.kl_weight:g} and reconstruction "
                f"{self.reconstruction_weight:g}"
            )
        if self.kl_warmup_updates:
            text += f", KL warm-up over {self.kl_warmup_updates:,} updates"
        if self.early_stopping_patience:
            text += (
                f", early stopping (patience {self.early_stopping_patience} epochs, on "
                f"{self.validation_fraction:.0%} of the training images)"
            )
        text += f", seed {self.seed}, XLA {'on' if self.xla else 'off'}"
        return text + (", fast setting" if self.fast else "")


# The recipe the fast setting (VAE_TF_FAST=1) runs instead: tiny, for CI.
FAST_OVERRIDES: dict[str, Any] = {
    "updates": 16,
    "max_train": 1_000,
    "max_test": 500,
    "classifier_epochs": 1,
    "iwae_k": 10,
    "fast": True,
}

# The original study's recipe (SPEC section 1) with the budget in updates.
ORIGINAL = Recipe()

# The beta sweep (beyond the original): latent 8, so that units can fall silent.
# Trained on dynamically binarized images, the usual protocol for likelihoods on MNIST.
BETA_SWEEP = ORIGINAL.replace(latent_dim=8, updates=1_000, binarize="dynamic")

# Lesson 08: a convolutional VAE that generates. Latent 16 (room for detail that 2 codes
# cannot hold), XLA off (measured: it makes these convolutions slower on a CPU, 97 vs 66
# CPU ms per update of 128 images on 2 cores, compiling included), 1,500 updates: about
# 50 s of training on the 20,000-image real subset with 2 cores (two seeds: 49 and 51 s).
CONV_LESSON = ORIGINAL.replace(
    arch="conv", latent_dim=16, updates=1_500, jit_compile=False, binarize="dynamic"
)

# The best recipe (issues 11 and 17): the strongest VAE found that trains within 10 minutes
# on 2 CPU cores on about 20,000 images; ``benchmarks/best_recipe.py`` measures what each
# choice buys (its ``HELD_OUT_LADDER`` holds the figures, on a held-out part of the real
# 22,699-image MNIST training subset). An MLP 784-512-512-32 made 30,000 updates in the
# time the convolutional network made 3,600 (XLA compiles its dense layers well; it slowed
# the convolutions), and more updates bought more than convolutions: dynamic binarization,
# KL warm-up over the first third, cosine learning-rate decay, early stopping on 10% of
# the training images.
BEST = ORIGINAL.replace(
    latent_dim=32,
    hidden_layers=2,
    binarize="dynamic",
    jit_compile=True,
    updates=30_000,
    kl_warmup_updates=10_000,
    lr_schedule="cosine",
    early_stopping_patience=10,
    validation_fraction=0.1,
    iwae_k=500,
)
