"""The models of the course: the VAE and the plain autoencoder of the original study.

Read ``VAE.train_step`` top to bottom as the math: encode, sample, decode, the two loss
terms, their weighted sum, the gradient, the update, the metrics.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import keras
from keras import layers, ops

from vae_tf import validation
from vae_tf.losses import clip_log_var, kl_divergence, reconstruction_loss
from vae_tf.recipe import ARCHITECTURES, ORIGINAL, Recipe
from vae_tf.validation import IMAGE_SHAPE


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; ``fit`` stops at once and says what to try."""


def _torch_like_initializer() -> keras.initializers.Initializer:
    """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): the default of PyTorch's layers.

    The original study was PyTorch, so its weights started this way. Keras' Glorot
    default starts the 512 -> 2 * latent_dim layer about twice as wide; with it the
    recipe ended about 3 nats per image worse (IWAE, 20 epochs on the offline sample,
    ``benchmarks/iwae_vs_pytorch.py``), with this one it matches PyTorch.
    """
    return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")


def layer_seed(seed: int | None, where: str) -> int | None:
    """The seed of one layer's initial weights: ``seed`` mixed with the layer's place.

    Each layer gets its own integer (a CRC-32 of ``"<seed>/<where>"``), so that layers of the
    same shape do not start equal and two models built with one seed start equal, without
    touching the global random state. None stays None (a fresh draw each time).
    """
    if seed is None:
        return None
    return zlib.crc32(f"{validation.integer('seed', seed)}/{where}".encode())


def _seeded(network: keras.Model, seed: int | None) -> keras.Model:
    """``network`` with every kernel redrawn by its own initializer, seeded by ``layer_seed``.

    Layers are told apart by their position in ``network.layers``, so the same builder
    with the same seed gives the same weights in any process; ``seed=None`` leaves the
    weights as Keras drew them. Only random initializers are redrawn (biases start at 0).
    """
    if seed is None:
        return network
    for index, layer in enumerate(network.layers):
        initializer = getattr(layer, "kernel_initializer", None)
        if initializer is None or "seed" not in initializer.get_config():
            continue
        config = {**initializer.get_config(), "seed": layer_seed(seed, f"{network.name}/{index}")}
        layer.kernel.assign(type(initializer).from_config(config)(layer.kernel.shape))
    return network


def as_images(x):
    """Return the tensor ``x`` as float32 images of shape (N, 28, 28, 1).

    Accepts (N, 28, 28, 1) and (N, 28, 28); anything else raises a ``ValueError`` that
    says which shape came in. The check runs on the static shape, so it costs nothing
    inside a compiled training step. (This is the tensor-side twin of
    ``vae_tf.validation.float_images``, which checks NumPy arrays and their values.)
    """
    shape = tuple(x.shape)
    if len(shape) == 3 and shape[1:] == (28, 28):
        x = ops.expand_dims(x, -1)
    elif not (len(shape) == 4 and shape[1:] == IMAGE_SHAPE):
        raise ValueError(
            "expected MNIST images of shape (N, 28, 28, 1) or (N, 28, 28), "
            f"got an array of shape {shape}"
        )
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable(package="vae_tf")
class Sampling(layers.Layer):
    """The reparameterization trick: ``z = mu + exp(log_var / 2) * eps``, eps ~ N(0, I).

    Writing the sample this way moves the randomness into ``eps``, so the gradient
    flows through ``mu`` and ``log_var`` to the encoder.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        mu, log_var = inputs
        eps = keras.random.normal(ops.shape(mu), seed=self.seed_generator)
        return mu + ops.exp(0.5 * log_var) * eps

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def _dense(units: int, **kwargs: Any) -> layers.Dense:
    return layers.Dense(units, kernel_initializer=_torch_like_initializer(), **kwargs)


def _conv(layer: type, filters: int, **kwargs: Any) -> layers.Layer:
    # 3x3 kernels, "same" padding; ``layer`` is Conv2D or Conv2DTranspose.
    return layer(filters, 3, padding="same", kernel_initializer=_torch_like_initializer(), **kwargs)


def _hidden_stack(h: Any, units: int, count: int) -> Any:
    # ``count`` dense ReLU layers; the first keeps the original name "hidden".
    for i in range(count):
        h = _dense(units, activation="relu", name="hidden" if i == 0 else f"hidden_{i + 1}")(h)
    return h


def build_encoder(
    latent_dim: int = 2,
    arch: str = "mlp",
    hidden_units: int = 512,
    *,
    hidden_layers: int = 1,
    variational: bool = True,
    name: str = "encoder",
    seed: int | None = None,
) -> keras.Model:
    """The encoder q(z|x): images (N, 28, 28, 1) -> ``[mu, log_var]``, each (N, latent_dim).

    ``arch="mlp"`` is the original study's 784 -> 512 (ReLU) -> 2 * latent_dim network;
    ``arch="conv"`` uses two strided convolutions instead. The last layer's output is
    split in two halves of ``latent_dim`` (the original split in chunks of 2, which is
    right only for latent_dim = 2), and ``log_var`` is clipped (see ``vae_tf.losses``).

    ``hidden_layers`` dense ReLU layers of ``hidden_units`` (conv: ``hidden_units // 2``)
    follow the input (1 in the original study; 2 gives the 784-512-512 MLP of
    ``vae_tf.recipe.BEST``).

    With ``variational=False`` (the plain autoencoder) the last layer has ``latent_dim``
    units and the encoder returns the code z alone, shaped (N, latent_dim).

    ``seed`` seeds the initial weights (each layer its own, see ``layer_seed``); None
    draws them afresh.
    """
    latent_dim = validation.positive_int("latent_dim", latent_dim)
    hidden_units = validation.positive_int("hidden_units", hidden_units)
    hidden_layers = validation.positive_int("hidden_layers", hidden_layers)
    inputs = keras.Input(shape=IMAGE_SHAPE, name="image")
    if validation.one_of("arch", arch, ARCHITECTURES) == "mlp":
        h = layers.Flatten()(inputs)
        h = _hidden_stack(h, hidden_units, hidden_layers)
    else:
        h = _conv(layers.Conv2D, 32, strides=2, activation="relu")(inputs)
        h = _conv(layers.Conv2D, 64, strides=2, activation="relu")(h)
        h = layers.Flatten()(h)
        h = _hidden_stack(h, hidden_units // 2 or 1, hidden_layers)
    if not variational:
        return _seeded(keras.Model(inputs, _dense(latent_dim, name="z")(h), name=name), seed)
    h = _dense(2 * latent_dim, name="mu_and_log_var")(h)
    mu = layers.Lambda(lambda t: t[:, :latent_dim], name="mu")(h)
    log_var = layers.Lambda(lambda t: clip_log_var(t[:, latent_dim:]), name="log_var")(h)
    return _seeded(keras.Model(inputs, [mu, log_var], name=name), seed)


def build_decoder(
    latent_dim: int = 2,
    arch: str = "mlp",
    hidden_units: int = 512,
    *,
    hidden_layers: int = 1,
    name: str = "decoder",
    seed: int | None = None,
) -> keras.Model:
    """The decoder p(x|z): codes (N, latent_dim) -> **logits** of shape (N, 28, 28, 1).

    ``arch="mlp"``: latent_dim -> 512 (ReLU) -> 784, the original study's network, with
    ``hidden_layers`` hidden layers of ``hidden_units`` (conv: ``hidden_units // 2``).
    ``arch="conv"`` mirrors the convolutional encoder: dense layers to a 7 x 7 x 64 feature
    map, then two transposed convolutions with stride 2, 32 filters (7 -> 14) and 1 filter
    (14 -> 28, the logits). No convolution runs at full 28 x 28 resolution with many
    filters: that keeps the IWAE bound's k decodes per image cheap (measured with
    ``benchmarks/iwae_scoring.py``; the README's scoring table).
    The sigmoid is left out on purpose: the loss is computed from logits. ``seed`` seeds
    the initial weights, as in :func:`build_encoder`.
    """
    latent_dim = validation.positive_int("latent_dim", latent_dim)
    hidden_units = validation.positive_int("hidden_units", hidden_units)
    hidden_layers = validation.positive_int("hidden_layers", hidden_layers)
    inputs = keras.Input(shape=(latent_dim,), name="z")
    if validation.one_of("arch", arch, ARCHITECTURES) == "mlp":
        h = _hidden_stack(inputs, hidden_units, hidden_layers)
        h = _dense(28 * 28, name="pixel_logits")(h)
        logits = layers.Reshape(IMAGE_SHAPE, name="logits")(h)
    else:
        h = _hidden_stack(inputs, hidden_units // 2 or 1, hidden_layers)
        h = _dense(7 * 7 * 64, activation="relu")(h)
        h = layers.Reshape((7, 7, 64))(h)
        h = _conv(layers.Conv2DTranspose, 32, strides=2, activation="relu")(h)
        logits = _conv(layers.Conv2DTranspose, 1, strides=2, name="logits")(h)
    return _seeded(keras.Model(inputs, logits, name=name), seed)


def _shape_of(tensor: Any) -> tuple:
    return tuple(int(d) for d in ops.shape(tensor))


def _check_encoder(encoder: Any, latent_dim: int) -> None:
    """Raise ``ValueError`` unless ``encoder`` maps images to ``[mu, log_var]`` of latent_dim."""
    if not callable(encoder):
        raise TypeError(f"encoder must be a keras.Model, got {type(encoder).__name__}")
    try:
        outputs = encoder(ops.zeros((2, *IMAGE_SHAPE)))
    except Exception as error:  # noqa: BLE001 - any failure: say what was tried
        raise ValueError(
            "encoder cannot take a batch of images of shape (2, 28, 28, 1): "
            f"{str(error).splitlines()[0]}"
        ) from None
    if not (isinstance(outputs, (list, tuple)) and len(outputs) == 2):
        raise ValueError(
            "encoder must return two tensors, [mu, log_var] (two heads), "
            f"got {type(outputs).__name__} for a batch of 2 images"
        )
    for name, tensor in zip(("mu", "log_var"), outputs, strict=True):
        if _shape_of(tensor) != (2, latent_dim):
            raise ValueError(
                f"encoder output {name} must have shape (N, latent_dim) = (2, {latent_dim}) for "
                f"a batch of 2 images, got {_shape_of(tensor)}"
            )


def _check_decoder(decoder: Any, latent_dim: int) -> None:
    """Raise ``ValueError`` unless ``decoder`` maps (N, latent_dim) codes to (N, 28, 28, 1)."""
    if not callable(decoder):
        raise TypeError(f"decoder must be a keras.Model, got {type(decoder).__name__}")
    try:
        logits = decoder(ops.zeros((2, latent_dim)))
    except Exception as error:  # noqa: BLE001 - any failure: say what was tried
        raise ValueError(
            f"decoder cannot take codes of shape (2, {latent_dim}) (latent_dim {latent_dim}): "
            f"{str(error).splitlines()[0]}"
        ) from None
    if isinstance(logits, (list, tuple)) or _shape_of(logits) != (2, *IMAGE_SHAPE):
        got = type(logits).__name__ if isinstance(logits, (list, tuple)) else _shape_of(logits)
        raise ValueError(
            f"decoder must map codes (2, {latent_dim}) to logits of shape (2, 28, 28, 1), got {got}"
        )


def _replica_scaled(loss):
    """Divide a batch-mean loss by the number of replicas under ``tf.distribute``.

    Each replica sees a slice of the global batch and the gradients of all replicas are
    summed, so dividing keeps the update that of the mean over the global batch.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


class _StopOnDivergence(keras.callbacks.Callback):
    """Raise ``TrainingDiverged`` as soon as ``fit`` reports a NaN or infinite loss."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._check(logs, f"epoch {getattr(self, 'epoch', 0) + 1}, step {batch + 1}")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._check(logs, f"the end of epoch {epoch + 1}")

    @staticmethod
    def _check(logs: dict | None, where: str) -> None:
        if not logs or "loss" not in logs:
            return
        loss = float(ops.convert_to_numpy(logs["loss"]))
        if math.isfinite(loss):
            return
        raise TrainingDiverged(
            f"training diverged: the loss became {loss} at {where}, so the weights are no "
            "longer usable. Try: a smaller learning rate (for example 1e-4 instead of 1e-3); "
            "inputs scaled to [0, 1] without NaN (divide uint8 pixels by 255); "
            "kl_weight and reconstruction_weight near 1; a fresh model, since this one's "
            "weights are NaN now."
        )


class _CourseModel(keras.Model):
    """Shared by the VAE and the autoencoder: XLA on by default when compiling."""

    def compile(
        self,
        optimizer: Any = None,
        *,
        jit_compile: Any = None,
        steps_per_execution: int | None = None,
        recipe: Recipe | None = None,
        **kwargs: Any,
    ) -> None:
        """Like ``keras.Model.compile``, with the defaults of the course's recipe.

        Parameters
        ----------
        optimizer : keras optimizer, "adam" or None
            None or "adam": ``recipe.make_optimizer()``, Adam with learning rate 1e-3 and
            epsilon 1e-8 as in the original study.
        jit_compile : bool or None
            None: ``recipe.xla`` (XLA on for a run of at least 300 updates; Keras 3 turns
            it off on CPU, and these small dense networks train about 1.3x faster with it).
        steps_per_execution : int or None
            None: ``recipe.steps_per_execution`` (16: one call from Python runs 16 training
            steps, which saves about a fifth of an epoch's time; callbacks' ``on_batch_*``
            hooks then see every 16th step, ``on_epoch_*`` hooks are unchanged).
        recipe : vae_tf.recipe.Recipe or None
            Where the defaults come from; None: ``vae_tf.recipe.ORIGINAL``.

        Under a multi-replica ``tf.distribute`` strategy XLA stays off and
        ``steps_per_execution`` is 1: Keras' distributed multi-step loop fails with them.
        ``benchmarks/train_speed.py`` measures each of these.
        """
        import tensorflow as tf

        recipe = ORIGINAL if recipe is None else recipe
        one_device = tf.distribute.get_strategy().num_replicas_in_sync == 1
        if jit_compile is None:
            jit_compile = recipe.xla and one_device
        if steps_per_execution is None:
            steps_per_execution = recipe.steps_per_execution if one_device else 1
        if optimizer is None or optimizer == "adam":
            optimizer = recipe.make_optimizer()
        super().compile(
            optimizer=optimizer,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
            **kwargs,
        )

    def compile_from_config(self, config: dict[str, Any]) -> None:
        # Overridden so that a loaded ``.keras`` model comes back compiled with its optimizer.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            # Create the optimizer's variables so that its saved state can be restored.
            self.optimizer.build(self.trainable_variables)

    def fit(self, x=None, y=None, *args: Any, **kwargs: Any):
        """``keras.Model.fit``, stopped at once with ``TrainingDiverged`` on a NaN loss.

        ``vae_tf.data`` pipelines shuffle with a seed every epoch, so ``shuffle`` is
        turned off for datasets (Keras would ignore it and warn at every call). A loss that
        becomes NaN or infinite raises :class:`TrainingDiverged` at the next point where
        Keras reports it (every ``steps_per_execution`` steps) instead of training on NaN
        weights for the rest of the run.
        """
        import tensorflow as tf

        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)
        callbacks = list(kwargs.get("callbacks") or [])
        if not any(isinstance(callback, _StopOnDivergence) for callback in callbacks):
            kwargs["callbacks"] = [_StopOnDivergence(), *callbacks]
        return super().fit(x, y, *args, **kwargs)

    @staticmethod
    def _images_of(data):
        # Datasets yield images alone, or (images, labels) pairs; labels are not used.
        if isinstance(data, (tuple, list)):
            data = data[0]
        return as_images(data)


@keras.saving.register_keras_serializable(package="vae_tf")
class VAE(_CourseModel):
    """A variational autoencoder with a Gaussian encoder and a Bernoulli decoder.

    The loss of one image is ``reconstruction_weight * reconstruction + kl_weight * KL``
    in nats, each term summed over pixels or latent dimensions and the total averaged
    over the batch (see ``vae_tf.losses``). With both weights 1 it is the negative ELBO.
    A weight of 0 trains on the other term alone; both terms are still measured and
    shown by ``fit`` as ``reconstruction_loss`` and ``kl_loss``.

    Parameters
    ----------
    latent_dim : int
        Size of z. The original study uses 2, so that codes can be plotted directly.
    arch : {"mlp", "conv"}
        "mlp" is the original 784-512-latent network.
    kl_weight, reconstruction_weight : float >= 0
        Weights of the two terms. They are stored in non-trainable variables: the
        properties ``model.kl_weight`` and ``model.reconstruction_weight`` return the
        variables (``float(model.kl_weight)`` reads the number, and ``train_step`` multiplies
        by them), and assigning a number to them (``model.kl_weight = 0.3``, e.g. from a
        callback for KL warm-up) changes the weight from the next batch on.
    hidden_units : int
        Width of the hidden layer (512 in the original study).
    hidden_layers : int
        Hidden layers of the encoder and of the decoder (1 in the original study).
    decoder_arch : {"mlp", "conv"} or None
        The decoder's architecture when it differs from the encoder's (None: ``arch``),
        e.g. a convolutional encoder with a lighter MLP decoder.
    seed : int or None
        Seed of the initial weights and of the sampling noise (None: fresh draws).
    encoder, decoder : keras.Model, optional
        Your own networks instead of the ones ``arch`` builds (lesson 08 brings its
        convolutional ones): the encoder maps images (N, 28, 28, 1) to ``[mu, log_var]``,
        each (N, latent_dim); the decoder maps codes (N, latent_dim) to **logits** of shape
        (N, 28, 28, 1). Both are checked on a batch of two when the VAE is made, and saved
        with it.
    """

    def __init__(
        self,
        latent_dim: int = 2,
        arch: str = "mlp",
        kl_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        hidden_units: int = 512,
        seed: int | None = None,
        *,
        hidden_layers: int = 1,
        decoder_arch: str | None = None,
        encoder: keras.Model | None = None,
        decoder: keras.Model | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.latent_dim = validation.positive_int("latent_dim", latent_dim)
        self.arch = validation.one_of("arch", arch, ARCHITECTURES)
        self.hidden_units = validation.positive_int("hidden_units", hidden_units)
        self.hidden_layers = validation.positive_int("hidden_layers", hidden_layers)
        self.decoder_arch = validation.one_of("decoder_arch", decoder_arch, (None, *ARCHITECTURES))
        self.seed = seed
        self.custom_networks = encoder is not None or decoder is not None
        if encoder is None:
            encoder = build_encoder(
                latent_dim, arch, hidden_units, hidden_layers=hidden_layers, seed=seed
            )
        else:
            _check_encoder(encoder, self.latent_dim)
        if decoder is None:
            decoder = build_decoder(
                latent_dim,
                decoder_arch or arch,
                hidden_units,
                hidden_layers=hidden_layers,
                seed=seed,
            )
        else:
            _check_decoder(decoder, self.latent_dim)
        self.encoder = encoder
        self.decoder = decoder
        self.sampling = Sampling(seed=seed, name="sampling")
        self._kl_weight = self.add_weight(
            name="kl_weight", shape=(), initializer="zeros", trainable=False
        )
        self._reconstruction_weight = self.add_weight(
            name="reconstruction_weight", shape=(), initializer="zeros", trainable=False
        )
        self.kl_weight = kl_weight
        self.reconstruction_weight = reconstruction_weight
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")
        # The encoder and decoder are functional models, built already.
        self.built = True

    # The weights: non-trainable variables, read in the compiled step and set from outside.
    @property
    def kl_weight(self) -> keras.Variable:
        """The weight of the KL term, a non-trainable ``keras.Variable`` (read: ``float(...)``).

        Inside ``train_step`` use it as a tensor (``self.kl_weight * kl``): the compiled step
        reads the variable at every batch. From outside (a callback, KL warm-up) assign a
        number, ``model.kl_weight = 0.3``: the setter checks it and assigns the variable, so
        the next batch uses it.
        """
        return self._kl_weight

    @kl_weight.setter
    def kl_weight(self, value: float) -> None:
        self._kl_weight.assign(validation.non_negative_float("kl_weight", value))

    @property
    def reconstruction_weight(self) -> keras.Variable:
        """The weight of the reconstruction term; a variable, like :attr:`kl_weight`."""
        return self._reconstruction_weight

    @reconstruction_weight.setter
    def reconstruction_weight(self, value: float) -> None:
        self._reconstruction_weight.assign(
            validation.non_negative_float("reconstruction_weight", value)
        )

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listing the trackers here lets Keras reset them at the start of each epoch.
        return [self.loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    # The three things a VAE does.
    def encode(self, x):
        """Images -> ``(mu, log_var)``, each of shape (N, latent_dim)."""
        return self.encoder(as_images(x))

    def decode(self, z):
        """Codes (N, latent_dim) -> pixel probabilities (N, 28, 28, 1)."""
        return ops.sigmoid(self.decoder(z))

    def call(self, inputs, training: bool = False):
        """A reconstruction: encode, sample z, decode; returns pixel probabilities."""
        mu, log_var = self.encoder(as_images(inputs), training=training)
        z = self.sampling([mu, log_var])
        return ops.sigmoid(self.decoder(z, training=training))

    def compute_losses(self, x, training: bool = False) -> dict[str, Any]:
        """The two terms and their weighted sum, each averaged over the batch (nats/image)."""
        mu, log_var = self.encoder(x, training=training)
        z = self.sampling([mu, log_var])
        logits = self.decoder(z, training=training)
        reconstruction = ops.mean(reconstruction_loss(x, logits))
        kl = ops.mean(kl_divergence(mu, log_var))
        loss = self.reconstruction_weight * reconstruction + self.kl_weight * kl
        return {"loss": loss, "reconstruction_loss": reconstruction, "kl_loss": kl}

    def _update_metrics(self, losses: dict[str, Any]) -> dict[str, Any]:
        self.loss_tracker.update_state(losses["loss"])
        self.reconstruction_loss_tracker.update_state(losses["reconstruction_loss"])
        self.kl_loss_tracker.update_state(losses["kl_loss"])
        return {metric.name: metric.result() for metric in self.metrics}

    def train_step(self, data):
        import tensorflow as tf

        x = self._images_of(data)
        with tf.GradientTape() as tape:
            losses = self.compute_losses(x, training=True)
            scaled_loss = _replica_scaled(losses["loss"])
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        return self._update_metrics(losses)

    def test_step(self, data):
        x = self._images_of(data)
        return self._update_metrics(self.compute_losses(x, training=False))

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "arch": self.arch,
            "kl_weight": float(self.kl_weight),
            "reconstruction_weight": float(self.reconstruction_weight),
            "hidden_units": self.hidden_units,
            "hidden_layers": self.hidden_layers,
            "decoder_arch": self.decoder_arch,
            "seed": self.seed,
        }
        if self.custom_networks:
            # Networks passed in are saved whole, so that load_model rebuilds them.
            config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
            config["decoder"] = keras.saving.serialize_keras_object(self.decoder)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        config = dict(config)
        for key in ("encoder", "decoder"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@keras.saving.register_keras_serializable(package="vae_tf")
class Autoencoder(_CourseModel):
    """The plain (deterministic) autoencoder of the original study.

    The encoder maps an image to a code z directly (no mu/log_var, no sampling); the
    loss is the reconstruction term alone, in nats per image, summed over pixels.
    """

    def __init__(
        self, latent_dim: int = 2, arch: str = "mlp", hidden_units: int = 512, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.latent_dim = validation.positive_int("latent_dim", latent_dim)
        self.arch = validation.one_of("arch", arch, ARCHITECTURES)
        self.hidden_units = validation.positive_int("hidden_units", hidden_units)
        # The VAE's networks, but the encoder's last layer gives the code z alone.
        self.encoder = build_encoder(latent_dim, arch, hidden_units, variational=False)
        self.decoder = build_decoder(latent_dim, arch, hidden_units)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.built = True

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker]

    def encode(self, x):
        """Images -> codes z of shape (N, latent_dim)."""
        return self.encoder(as_images(x))

    def decode(self, z):
        """Codes -> pixel probabilities (N, 28, 28, 1)."""
        return ops.sigmoid(self.decoder(z))

    def call(self, inputs, training: bool = False):
        z = self.encoder(as_images(inputs), training=training)
        return ops.sigmoid(self.decoder(z, training=training))

    def _loss(self, x, training: bool):
        z = self.encoder(x, training=training)
        return ops.mean(reconstruction_loss(x, self.decoder(z, training=training)))

    def train_step(self, data):
        import tensorflow as tf

        x = self._images_of(data)
        with tf.GradientTape() as tape:
            loss = self._loss(x, training=True)
            scaled_loss = _replica_scaled(loss)
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        self.loss_tracker.update_state(self._loss(self._images_of(data), training=False))
        return {"loss": self.loss_tracker.result()}

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "arch": self.arch,
            "hidden_units": self.hidden_units,
        }
