"""The two terms of the VAE loss, per image, in nats.

Convention (stated once, used everywhere): each term is **summed** over its axes
(the 784 pixels for the reconstruction term, the latent dimensions for the KL term)
and returned per image; models then **average over the batch**. So every loss printed
by this course is in nats per image, and ``loss = reconstruction + kl`` is the negative
ELBO of one image. Averaging the KL over latent dimensions instead, as some tutorials
do, silently down-weights it by ``latent_dim`` (keras-io #270, keras #6015).
"""

from __future__ import annotations

from keras import ops

# The encoder clips log_var to this range before it is used. exp(20) ~ 4.9e8 keeps
# exp(log_var) and exp(log_var / 2) finite in float32 (exp overflows near 88), and
# exp(-20) ~ 2e-9 is a standard deviation of 4.5e-5, tighter than any posterior a
# 784-pixel image can justify; so the bound never binds in healthy training and only
# stops a diverging run from producing inf / NaN.
LOG_VAR_MIN = -20.0
LOG_VAR_MAX = 20.0


def clip_log_var(log_var):
    """Clip ``log_var`` to ``[LOG_VAR_MIN, LOG_VAR_MAX]`` (see the module comment)."""
    return ops.clip(log_var, LOG_VAR_MIN, LOG_VAR_MAX)


def kl_per_dimension(mu, log_var):
    """KL(q(z_j|x) || N(0, 1)) of each latent dimension j, per image, in nats.

    ``KL_j = -1/2 * (1 + log_var_j - mu_j**2 - exp(log_var_j))``. Summed over j it is
    :func:`kl_divergence`; averaged over images it says which units carry information
    (a collapsed unit has KL_j ~ 0).

    Parameters
    ----------
    mu, log_var : tensors of shape (N, latent_dim)
        Mean and log-variance of q(z|x).

    Returns
    -------
    Tensor of shape (N, latent_dim).
    """
    return -0.5 * (1.0 + log_var - ops.square(mu) - ops.exp(log_var))


def kl_divergence(mu, log_var):
    """KL(q(z|x) || N(0, I)) for a diagonal Gaussian q, per image, in nats.

    ``KL = -1/2 * sum_j (1 + log_var_j - mu_j**2 - exp(log_var_j))``, summed over the
    latent dimensions (not averaged): the sum of :func:`kl_per_dimension`.

    Parameters
    ----------
    mu, log_var : tensors of shape (N, latent_dim)
        Mean and log-variance of q(z|x).

    Returns
    -------
    Tensor of shape (N,): the KL divergence of each image's posterior from the prior.
    """
    return ops.sum(kl_per_dimension(mu, log_var), axis=-1)


def reconstruction_loss(x, logits):
    """-log p(x|z) for a Bernoulli decoder, per image, in nats.

    Binary cross-entropy computed from the decoder's **logits** (numerically stable,
    unlike cross-entropy on sigmoid outputs), summed over all pixels. For grey-level
    targets in [0, 1] this is the continuous cross-entropy the original study used.

    Parameters
    ----------
    x : tensor of shape (N, 28, 28, 1) or (N, 28, 28)
        Target images with pixel values in [0, 1].
    logits : tensor of the same number of pixels per image
        Decoder outputs before the sigmoid.

    Returns
    -------
    Tensor of shape (N,).
    """
    x = ops.reshape(ops.cast(x, logits.dtype), (ops.shape(x)[0], -1))
    logits = ops.reshape(logits, (ops.shape(logits)[0], -1))
    return ops.sum(ops.binary_crossentropy(x, logits, from_logits=True), axis=-1)
