"""Figures of the course, built on matplotlib. Each function returns a ``Figure``.

Nothing here calls ``plt.show()`` or touches pyplot's global state: figures are made
with ``matplotlib.figure.Figure`` directly, so they never pile up in memory and work
without a display. In a notebook, leave the figure as the last expression of a cell
(or call ``display(fig)``); elsewhere save it with :func:`figure_to_png`.

Every figure gets a title, labelled axes and, for image grids, named rows and columns.
Pass ``source=data.source_description`` (or put it in the title) so that no figure is
read as full MNIST when it came from the offline sample; the ``*_plot`` functions for
experiment results add it themselves.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from vae_tf import validation

if TYPE_CHECKING:
    from vae_tf.experiments import BetaSweepResult, LossTermsResult, MuResult, SigmaResult

__all__ = [
    "image_grid",
    "latent_scatter",
    "latent_manifold",
    "loss_curves",
    "beta_sweep_plot",
    "mu_plot",
    "sigma_plot",
    "loss_terms_plot",
    "figure_to_png",
]

DIGIT_COLORS = "tab10"


def _title(fig: Figure, title: str, source: str | None) -> None:
    """Figure title; the data source on a second, smaller line."""
    text = title or ""
    if source:
        # Wrapped, so that a long source description is not cut at the figure's edges.
        source = "\n".join(textwrap.wrap(f"Data: {source}", width=110))
        text = f"{text}\n{source}" if text else source
    if text:
        fig.suptitle(text, fontsize=11)


def image_grid(
    images: Any,
    *,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    title: str = "",
    cmap: str = "gray",
    source: str | None = None,
) -> Figure:
    """A grid of images with named rows and columns.

    Parameters
    ----------
    images : array (R, C, 28, 28) or (R, C, 28, 28, 1)
        Pixel values in [0, 1] (shown on a fixed 0-1 scale, so grids compare).
    row_labels, col_labels : lists of str, optional
        One label per row (left of the first column) and per column (above the first row).
    title : str
    cmap : str, default "gray"
    source : str, optional
        The data source, shown under the title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 5 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 4:
        raise ValueError(
            f"images must have shape (rows, columns, 28, 28) or (rows, columns, 28, 28, 1), "
            f"got {images.shape}"
        )
    rows, cols = images.shape[:2]
    for name, labels, count in (("row_labels", row_labels, rows), ("col_labels", col_labels, cols)):
        if labels is not None and len(labels) != count:
            raise ValueError(f"{name} needs {count} labels, one per {name[:3]}, got {len(labels)}")

    fig = Figure(figsize=(1.1 * cols + 1.2, 1.1 * rows + 1.0), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[r, c], cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0 and row_labels is not None:
                ax.set_ylabel(str(row_labels[r]), rotation=0, ha="right", va="center")
            if r == 0 and col_labels is not None:
                ax.set_title(str(col_labels[c]), fontsize=9)
    _title(fig, title, source)
    return fig


def latent_scatter(
    codes: Any,
    labels: Any,
    *,
    title: str = "",
    max_points: int = 12000,
    source: str | None = None,
    show_prior: bool = True,
) -> Figure:
    """Scatter of latent codes (first two dimensions), coloured by digit, with a legend.

    Parameters
    ----------
    codes : array (N, D), D >= 2
    labels : array (N,) of digits 0-9
    title : str
    max_points : int, default 12000
        Draw at most this many points (a fixed, seeded subset).
    source : str, optional
        The data source, shown under the title.
    show_prior : bool, default True
        Draw the 1-sigma and 2-sigma circles of the prior N(0, I) for comparison.
    """
    max_points = validation.positive_int("max_points", max_points)
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise ValueError(f"codes must have shape (N, D) with D >= 2, got {codes.shape}")
    if len(labels) != len(codes):
        raise ValueError(
            f"labels must hold one digit per code: {len(labels)} labels, {len(codes)} codes"
        )
    if len(codes) > max_points:
        keep = np.sort(np.random.default_rng(0).choice(len(codes), max_points, replace=False))
        codes, labels = codes[keep], labels[keep]

    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    ax = fig.subplots()
    colors = [matplotlib.colormaps[DIGIT_COLORS](d) for d in range(10)]
    for digit in range(10):
        mask = labels == digit
        if np.any(mask):
            ax.scatter(
                codes[mask, 0],
                codes[mask, 1],
                s=4,
                alpha=0.6,
                color=colors[digit],
                label=str(digit),
            )
    if show_prior:
        angle = np.linspace(0, 2 * np.pi, 200)
        for radius, style in ((1, "--"), (2, ":")):
            ax.plot(
                radius * np.cos(angle),
                radius * np.sin(angle),
                "k" + style,
                linewidth=1,
                label=f"N(0, I): {radius} sigma",
            )
    ax.set_aspect("equal", adjustable="datalim")
    extra = f" (first 2 of {codes.shape[1]} dimensions)" if codes.shape[1] > 2 else ""
    ax.set_xlabel("z[0]" + extra)
    ax.set_ylabel("z[1]")
    ax.legend(
        title="digit", markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5)
    )
    _title(fig, title or f"Latent codes of {len(codes):,} images", source)
    return fig


def latent_manifold(
    model: Any, *, n: int = 15, title: str = "", source: str | None = None
) -> Figure:
    """Decode an n x n grid of codes placed on the prior's quantiles (2-D latent only).

    The grid runs over the 5 %-95 % quantiles of N(0, 1) in each dimension, so equal
    steps hold equal prior probability (as in Kingma & Welling's figure).

    Raises
    ------
    ValueError
        When ``model.latent_dim`` is not 2: a plane of codes covers only two dimensions.
    """
    latent_dim = getattr(model, "latent_dim", None)
    if latent_dim != 2:
        raise ValueError(
            f"latent_manifold needs a model with latent_dim == 2 (it decodes a plane of "
            f"codes), but this model has latent_dim={latent_dim}. For other sizes use "
            "latent_scatter on the codes or vae_tf.latent.interpolate."
        )
    if validation.integer("n", n) < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    quantiles = np.array([NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, n)])
    # Row 0 at the top of the picture holds the largest z[1].
    z1, z0 = np.meshgrid(quantiles[::-1], quantiles, indexing="ij")
    z = np.stack([z0.ravel(), z1.ravel()], axis=1).astype(np.float32)
    decoded = np.asarray(model.decode(z), dtype=np.float32).reshape(n, n, 28, 28)
    canvas = decoded.transpose(0, 2, 1, 3).reshape(n * 28, n * 28)

    fig = Figure(figsize=(7, 7.4), layout="constrained")
    ax = fig.subplots()
    ax.imshow(canvas, cmap="gray", vmin=0.0, vmax=1.0)
    ticks = np.arange(n) * 28 + 13.5
    step = max(1, n // 5)
    ax.set_xticks(ticks[::step], [f"{q:.2f}" for q in quantiles[::step]])
    ax.set_yticks(ticks[::step], [f"{q:.2f}" for q in quantiles[::-1][::step]])
    ax.set_xlabel("z[0] (prior quantiles 5 %-95 %)")
    ax.set_ylabel("z[1] (prior quantiles 5 %-95 %)")
    _title(fig, title or f"Decoded {n} x {n} grid of the 2-D latent space", source)
    return fig


GREY_LEVEL_NOTE = (
    "Trained on grey levels: loss and reconstruction are Bernoulli cross-entropies, "
    "not bounds on -log p(x)"
)


def loss_curves(
    history: dict,
    *,
    title: str = "",
    source: str | None = None,
    binarized: bool | None = None,
    validation: str = "held-out",
) -> Figure:
    """Training curves: total loss and reconstruction (left), KL (right), per epoch.

    ``history`` is ``keras.callbacks.History.history`` (or a dict of lists like it) with
    ``loss``, ``reconstruction_loss``, ``kl_loss`` and optionally their ``val_*``
    twins, in nats per image. The KL gets its own panel because it is usually tens of
    times smaller than the reconstruction term.

    Pass ``binarized=False`` when the model trained on grey-level images
    (``data.binarize == "none"``): the figure then says that its losses are Bernoulli
    cross-entropies, not bounds on -log p(x). ``True`` or ``None`` add nothing.
    ``validation`` names the images of the ``val_*`` curves in the legend (early
    stopping measures images held back from the training set, not the held-out ones).
    """
    history = {key: list(values) for key, values in dict(history).items()}
    if not any(key in history for key in ("loss", "reconstruction_loss", "kl_loss")):
        raise ValueError(
            "history must hold 'loss', 'reconstruction_loss' or 'kl_loss' lists "
            f"(keras History.history), got keys {sorted(history)}"
        )
    has_kl = bool(history.get("kl_loss") or history.get("val_kl_loss"))
    # A plain autoencoder has no KL term: one panel, no empty one beside it.
    fig = Figure(figsize=(10, 4) if has_kl else (5.5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if has_kl else 1, squeeze=False)[0]
    panels = [(axes[0], ("loss", "reconstruction_loss"), "Loss and reconstruction term")]
    if has_kl:
        panels.append((axes[1], ("kl_loss",), "KL term"))
    for ax, keys, panel_title in panels:
        for key in keys:
            for prefix, style, where in (("", "-", "train"), ("val_", "--", validation)):
                values = history.get(prefix + key)
                if values:
                    epochs = np.arange(1, len(values) + 1)
                    ax.plot(
                        epochs, values, style, marker="o", markersize=3, label=f"{key} ({where})"
                    )
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.set_title(panel_title, fontsize=10)
        if ax.lines:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if binarized is False:
        fig.supxlabel(GREY_LEVEL_NOTE, fontsize=8)
    _title(fig, title or "Training curves", source)
    return fig


def beta_sweep_plot(result: BetaSweepResult) -> Figure:
    """Three panels over beta: the two terms, -ELBO vs the IWAE estimate, active units."""
    betas = np.asarray(result.betas, dtype=np.float64)
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    terms, bounds, units = fig.subplots(1, 3)
    log_x = bool(np.all(betas > 0))

    terms.plot(betas, result.reconstruction, "o-", label="reconstruction")
    terms.plot(betas, result.kl, "s-", label="KL")
    terms.set_title("The two terms", fontsize=10)
    terms.set_ylabel("nats per image")

    bounds.plot(betas, result.neg_elbo, "o-", label="-ELBO (one sample)")
    bounds.plot(betas, result.iwae_nll, "s-", label=f"IWAE estimate of -log p(x), k={result.k}")
    bounds.set_title("-ELBO and -log p(x) (lower is better)", fontsize=10)
    bounds.set_ylabel("nats per image")

    units.plot(betas, result.active_units, "o-", label="active units (Var(mu) > 0.01)")
    units.axhline(
        result.latent_dim, color="gray", linestyle="--", label=f"latent_dim = {result.latent_dim}"
    )
    units.set_ylim(0, result.latent_dim + 0.5)
    units.set_title("Active units (posterior collapse when it drops)", fontsize=10)
    units.set_ylabel("latent dimensions")

    for ax in (terms, bounds, units):
        if log_x:
            ax.set_xscale("log", base=2)
            ax.set_xticks(betas, [f"{b:g}" for b in betas])
        ax.set_xlabel("beta (KL weight)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _title(
        fig,
        f"Beta sweep: latent_dim={result.latent_dim}, {result.epochs} epochs, "
        f"binarized held-out images ({result.n_images:,})",
        result.source_description,
    )
    return fig


def mu_plot(result: MuResult) -> Figure:
    """The mu experiment's images: original, decode(mu), decode(mu + sigma*eps + u)."""
    images = np.stack([result.originals, result.decoded_mu, result.decoded_noisy], axis=0)
    rows = [
        "original",
        f"decode(mu)\nkept {result.label_kept_mu:.0%}",
        f"decode(mu+sigma*eps+u)\nkept {result.label_kept_noisy:.0%}",
    ]
    return image_grid(
        images,
        row_labels=rows,
        col_labels=[f"digit {d}" for d in result.digits],
        title=(
            "Effect of mu: decoding the mean vs a shifted mean, u ~ U(-1, 1); label kept of "
            f"{result.n_images:,} held-out images (classifier accuracy {result.classifier_accuracy:.0%})"
        ),
        source=result.source_description,
    )


def sigma_plot(result: SigmaResult) -> Figure:
    """The sigma experiment's images: one row per digit, one column per factor."""
    images = np.concatenate([result.originals[:, None], result.images], axis=1)
    cols = ["original"] + [
        f"factor {f:g}\nkept {kept:.0%}"
        for f, kept in zip(result.factors, result.label_kept, strict=True)
    ]
    return image_grid(
        images,
        row_labels=[f"digit {d}" for d in result.digits],
        col_labels=cols,
        title=(
            "Effect of sigma: decode(mu + factor * sigma * eps); label kept of "
            f"{result.n_images:,} held-out images (classifier accuracy {result.classifier_accuracy:.0%})"
        ),
        source=result.source_description,
    )


def loss_terms_plot(result: LossTermsResult) -> Figure:
    """Latent scatters of the three runs side by side, with KL and kNN accuracy."""
    names = list(result.runs)
    fig = Figure(figsize=(5 * len(names) + 1, 5.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    cmap = matplotlib.colormaps[DIGIT_COLORS]
    for ax, name in zip(axes, names, strict=True):
        run = result.runs[name]
        for digit in range(10):
            mask = run.labels == digit
            ax.scatter(
                run.codes[mask, 0],
                run.codes[mask, 1],
                s=3,
                alpha=0.5,
                color=cmap(digit),
                label=str(digit),
            )
        angle = np.linspace(0, 2 * np.pi, 200)
        ax.plot(2 * np.cos(angle), 2 * np.sin(angle), "k:", linewidth=1, label="N(0, I) 2 sigma")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(
            f"{name} (KL weight {run.kl_weight:g}, reconstruction weight {run.reconstruction_weight:g})\n"
            f"KL {run.kl:.1f}, reconstruction {run.reconstruction:.1f} nats/image; kNN {run.knn_accuracy:.0%}",
            fontsize=9,
        )
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.grid(alpha=0.3)
    axes[-1].legend(
        title="digit", markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5)
    )
    _title(
        fig,
        f"The two loss terms: sampled codes z of {len(result.runs[names[0]].codes):,} training images, "
        f"{result.epochs} epochs (kNN chance = {result.chance_accuracy:.0%})",
        result.source_description,
    )
    return fig


def figure_to_png(fig: Figure, path: str | Path, *, dpi: int = 100) -> Path:
    """Save ``fig`` as a PNG (parent folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path
