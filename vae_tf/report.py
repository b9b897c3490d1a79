"""The report of a ``vae-tf reproduce`` run: results in, Markdown out.

:func:`write_report` takes the dict that ``results.json`` holds and returns the text
of ``report.md``. It is pure (no TensorFlow, no files, no clock), so every sentence it
can write is tested on made-up results (``tests/test_report.py``).

Each finding is stated only when the numbers show it: every comparison uses one of the
thresholds below, and the other branch says plainly that this run does not show it. A
number that is missing (a diverged run writes NaN as ``null``) is printed as "n/a" and
its finding says that the run diverged, never crashes a format string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vae_tf.data import FULL_MNIST_SIZES

__all__ = ["write_report"]

# Label-kept rates closer than this are a tie: the rate moves by about a point between
# seeds at the default recipe on the offline sample (tests/test_recipe.py).
LABEL_KEPT_MARGIN = 0.02
# A KL below this (nats per image) is a posterior at the prior: less than one bit of
# information about the image gets through.
PRIOR_KL = 0.5
# kNN accuracy within this of chance (0.1) is "no information about the digit".
NEAR_CHANCE = 0.1
# Codes are "informative" when their kNN accuracy beats chance by at least this much.
INFORMATIVE_ABOVE_CHANCE = 0.2
# decode(mu) this far below the classifier's own accuracy: the VAE itself confuses digits.
BLUR_GAP = 0.2
# At the largest beta, a KL below this (nats per image) is posterior collapse.
COLLAPSED_KL = 1.0

FACTORS_SMALL = (0.1, 1.0)  # sigma factors the original found keep the digit
FACTORS_LARGE = (10.0, 100.0)  # and those it found lose it

DIVERGED = "n/a (diverged)"


# ---------------------------------------------------------------------------
# Formatting that never fails on a missing number
# ---------------------------------------------------------------------------


def _missing(*values: Any) -> bool:
    """True when any value (or any item of a list value) is None: a diverged run."""
    for value in values:
        if value is None:
            return True
        if isinstance(value, list | tuple) and _missing(*value):
            return True
    return False


def _num(value: float | None, spec: str = ".1f") -> str:
    return DIVERGED if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return DIVERGED if value is None else f"{value:.1%}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _diverged(what: str) -> str:
    return (
        f"{what} could not be measured: a training run diverged (its loss became NaN). "
        "Try another --seed, or check the data."
    )


# ---------------------------------------------------------------------------
# Sentences, one function per finding
# ---------------------------------------------------------------------------


def data_sentence(source_description: str, n_train: int, n_test: int) -> str:
    """Which data the numbers come from, with a warning unless it is full MNIST."""
    text = f"**Data:** {source_description}."
    if (n_train, n_test) == FULL_MNIST_SIZES:
        return text + " 60,000 + 10,000 images: the size of full MNIST, as in the original study."
    return (
        text + "\n\n> These numbers come from this data, **not from full MNIST** (60,000 "
        "training and 10,000 test images), which the original study used."
    )


def recipe_sentence(recipe: dict[str, Any], epochs: int, updates: int, original: int) -> str:
    """The recipe that ran, from ``results["recipe"]``."""
    text = (
        f"**Recipe:** VAE, {recipe['arch'].upper()} encoder/decoder 784-{recipe['hidden_units']}-"
        f"{recipe['latent_dim']}, {recipe['optimizer'].capitalize()} (learning rate "
        f"{recipe['learning_rate']:g}, epsilon {recipe['adam_epsilon']:g}), batch "
        f"{recipe['batch_size']}, a budget of {recipe['updates']:,} updates: {_count(epochs, 'epoch')}"
        f" = {updates:,} updates here (the original: {original:,} on full MNIST), seed "
        f"{recipe['seed']}."
    )
    if recipe.get("fast"):
        text += " **Fast setting (VAE_TF_FAST=1): a smoke run, not a result.**"
    return text


def run_time_sentence(elapsed_seconds: float, cpu_seconds: float | None) -> str:
    """Wall-clock time, and the CPU time that bounds it on an unshared machine."""
    text = f"Run time: {elapsed_seconds / 60:.1f} min"
    if cpu_seconds is None:
        return text + "."
    return (
        f"{text} wall clock, {cpu_seconds / 60:.1f} min of CPU time (on a machine shared with "
        "other jobs the wall clock grows; the CPU time does not)."
    )


def model_sentence(model: dict[str, Any]) -> str:
    """The trained VAE's held-out -ELBO, or that it diverged."""
    if _missing(model.get("neg_elbo"), model.get("reconstruction"), model.get("kl")):
        return _diverged("The trained VAE's held-out -ELBO")
    return (
        f"**Trained VAE on the held-out images:** -ELBO {model['neg_elbo']:.1f} nats per image "
        f"= reconstruction {model['reconstruction']:.1f} + KL {model['kl']:.2f} (Bernoulli "
        "cross-entropy on grey-level images, not a bound on log p(x) of binarized images)."
    )


def _digits_at(rates: dict[int, float], pick_best: bool) -> str:
    # Ties are listed together, so that no digit is singled out arbitrarily.
    ordered = sorted(rates.values(), reverse=pick_best)[:2]
    edge = min(ordered) if pick_best else max(ordered)
    chosen = [d for d, v in rates.items() if (v >= edge if pick_best else v <= edge)]
    return ", ".join(str(d) for d in chosen)


def mu_sentence(mu: dict[str, Any], accuracy: float | None) -> str:
    """Experiment 1: does shifting the mean lose the digit more often than decode(mu)?"""
    kept_mu, kept_noisy = mu.get("label_kept_mu"), mu.get("label_kept_noisy")
    if _missing(kept_mu, kept_noisy, accuracy):
        return _diverged("The effect of mu")
    if kept_noisy < kept_mu - LABEL_KEPT_MARGIN:
        text = (
            f"Shifting the mean lowers the label-kept rate from {_pct(kept_mu)} to "
            f"{_pct(kept_noisy)} (classifier accuracy {_pct(accuracy)}) and moves the decoding "
            f"away from the original (RMS {_num(mu.get('distance_mu'), '.3f')} -> "
            f"{_num(mu.get('distance_noisy'), '.3f')}), as the original study saw by eye"
        )
    else:
        text = (
            f"Here the shifted mean keeps the label about as often as decode(mu) "
            f"({_pct(kept_noisy)} vs {_pct(kept_mu)}, classifier accuracy {_pct(accuracy)}), "
            "which does not show the original study's finding"
        )
    per_digit = mu.get("label_kept_noisy_per_digit") or []
    rates = {d: v for d, v in enumerate(per_digit) if v is not None}
    if len(rates) >= 2 and max(rates.values()) - min(rates.values()) < LABEL_KEPT_MARGIN:
        text += "; every digit keeps its label about equally often under the shift"
    elif len(rates) >= 2:
        text += (
            f"; the digits that hold up best under the shift are {_digits_at(rates, True)}, "
            f"the weakest {_digits_at(rates, False)} (the original: distinctive shapes suffer "
            "less)"
        )
    text += "."
    if kept_mu < accuracy - BLUR_GAP:
        text += (
            f" decode(mu) itself keeps only {_pct(kept_mu)} against the classifier's "
            f"{_pct(accuracy)}: the 2-D VAE blurs some digits into others."
        )
    return text


def sigma_sentence(sigma: dict[str, Any], accuracy: float | None) -> str:
    """Experiment 2: is the digit kept at factors 0.1 and 1 and lost at 10 and 100?"""
    factors = [float(f) for f in sigma.get("factors", [])]
    kept = dict(zip(factors, sigma.get("label_kept", []), strict=False))
    small = [kept[f] for f in FACTORS_SMALL if f in kept]
    large = [kept[f] for f in FACTORS_LARGE if f in kept]
    if not small or not large:
        return "The default factors (0.1, 1, 10, 100) were not all run; compare the rows above."
    if _missing(small, large, accuracy):
        return _diverged("The effect of sigma")
    small_text = " and ".join(_pct(v) for v in small)
    large_text = " and ".join(_pct(v) for v in large)
    if max(large) < min(small) - LABEL_KEPT_MARGIN:
        verdict = "as the original study found: samples far out in sigma leave the digit's region"
    else:
        verdict = "which does not show the original study's finding clearly"
    return (
        f"The label is kept for {small_text} of the images at factors 0.1 and 1 and for "
        f"{large_text} at 10 and 100 (classifier accuracy {_pct(accuracy)}), {verdict}."
    )


def loss_terms_sentence(runs: dict[str, Any], chance: float) -> str:
    """Experiment 3: KL alone a blob at the prior; reconstruction alone clusters; full both."""
    kl_only, rec_only, full = runs["kl_only"], runs["reconstruction_only"], runs["full"]
    needed = [run.get(key) for run in (kl_only, rec_only, full) for key in ("kl", "knn_accuracy")]
    if _missing(*needed):
        return _diverged("The loss-terms comparison")
    if kl_only["kl"] < PRIOR_KL and kl_only["knn_accuracy"] < chance + NEAR_CHANCE:
        first = (
            f"KL alone drives every posterior to the prior (KL {kl_only['kl']:.2f} nats, kNN "
            f"{kl_only['knn_accuracy']:.2f} vs chance {chance:.2f}): the uninformative blob the "
            "original study saw, posterior collapse in the extreme"
        )
    else:
        first = (
            f"KL alone did not reach the prior here (KL {kl_only['kl']:.2f} nats, kNN "
            f"{kl_only['knn_accuracy']:.2f} vs chance {chance:.2f}), unlike the original's "
            "uninformative blob"
        )
    if rec_only["knn_accuracy"] > chance + INFORMATIVE_ABOVE_CHANCE and rec_only["kl"] > full["kl"]:
        second = (
            f"reconstruction alone keeps the digits apart (kNN {rec_only['knn_accuracy']:.2f}) "
            f"with codes spread far from N(0, I) (KL {rec_only['kl']:.1f} nats), like the "
            "original's separated clusters without regular structure"
        )
    else:
        second = (
            f"reconstruction alone gives kNN {rec_only['knn_accuracy']:.2f} and KL "
            f"{rec_only['kl']:.1f} nats, which does not show the original's separated clusters "
            "clearly"
        )
    informative = full["knn_accuracy"] > chance + INFORMATIVE_ABOVE_CHANCE
    near_prior = full["kl"] < rec_only["kl"]
    if informative and near_prior:
        third = (
            f"The full loss gets both: informative codes (kNN {full['knn_accuracy']:.2f}) that "
            f"stay nearer the prior (KL {full['kl']:.2f} nats) than reconstruction alone."
        )
    elif informative:
        third = (
            f"The full loss gives informative codes (kNN {full['knn_accuracy']:.2f}) but no "
            f"nearer the prior than reconstruction alone (KL {full['kl']:.2f} nats)."
        )
    else:
        third = (
            f"The full loss's codes are not informative here (kNN {full['knn_accuracy']:.2f}, "
            f"KL {full['kl']:.2f} nats): the model is too weak to show the trade."
        )
    return f"{first}; {second}. {third}"


def beta_sentence(beta: dict[str, Any]) -> str:
    """The beta sweep: the KL falls, reconstruction worsens, units fall silent."""
    betas, kl, rec = beta["betas"], beta["kl"], beta["reconstruction"]
    units, nll = beta["active_units"], beta["iwae_nll"]
    if _missing(kl, rec, units, nll):
        return _diverged("The beta sweep")
    best = betas[min(range(len(nll)), key=lambda i: nll[i])]
    text = (
        f"As beta grows from {betas[0]:g} to {betas[-1]:g}, the KL goes from {kl[0]:.1f} to "
        f"{kl[-1]:.2f} nats and the reconstruction from {rec[0]:.1f} to {rec[-1]:.1f}; the best "
        f"IWAE estimate of -log p(x) is at beta = {best:g}. Active units go from {units[0]} to "
        f"{units[-1]} of {beta['latent_dim']}."
    )
    if units[-1] < units[0]:
        text += " Units falling silent as beta grows is posterior collapse."
    elif kl[-1] < COLLAPSED_KL:
        text += (
            " The KL near 0 at the largest beta is posterior collapse, although every unit "
            "still passes Burda's variance threshold: the posterior means shrink toward 0 "
            "without yet falling below it (see `kl_per_unit` in results.json)."
        )
    else:
        text += " No unit fell silent in this sweep."
    return text + " The original study did not vary beta."


# ---------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------


def _header(results: dict[str, Any]) -> list[str]:
    s = results["settings"]
    accuracy = results.get("classifier_accuracy")
    return [
        "# The VAE study, reproduced with Keras / TensorFlow",
        "",
        data_sentence(results["source_description"], s["n_train"], s["n_test"]),
        "",
        recipe_sentence(results["recipe"], s["epochs"], s["updates"], s["updates_in_original"]),
        f"TensorFlow {s['tensorflow']}, Keras {s['keras']}.",
        "",
        model_sentence(results["model"]),
        "",
        f"**Digit classifier** (scores decoded images; small CNN, "
        f"{_count(results['recipe']['classifier_epochs'], 'epoch')}): held-out accuracy "
        f"**{_pct(accuracy)}**. Every label-kept rate below is read by it, so none can be "
        "trusted beyond that accuracy.",
        "",
        run_time_sentence(results["elapsed_seconds"], results.get("cpu_seconds")),
        "",
        "![Training curves](loss-curves.png)",
        "",
    ]


def _mu_section(mu: dict[str, Any], accuracy: float | None) -> list[str]:
    rows = [
        ["decode(mu)", _num(mu.get("distance_mu"), ".3f"), _num(mu.get("label_kept_mu"), ".3f")],
        [
            "decode(mu + sigma*eps + u), u ~ U(-1, 1)",
            _num(mu.get("distance_noisy"), ".3f"),
            _num(mu.get("label_kept_noisy"), ".3f"),
        ],
    ]
    per_digit = [
        ["decode(mu)", *[_pct(v) for v in mu.get("label_kept_mu_per_digit", [])]],
        ["noisy", *[_pct(v) for v in mu.get("label_kept_noisy_per_digit", [])]],
    ]
    return [
        "## 1. Effect of mu",
        "",
        "![decode(mu) and decode(mu + sigma*eps + u)](mu.png)",
        "",
        f"Over {mu['n_images']:,} held-out images; distance = RMS pixel difference from the "
        "original (grey levels, 0-1); label kept = fraction the classifier reads as the "
        f"original digit (classifier accuracy {_num(accuracy, '.3f')}).",
        "",
        _table(["decoding", "distance (RMS, grey levels)", "label kept (fraction)"], rows),
        "",
        "Label kept per digit (fraction):",
        "",
        _table(["decoding", *[str(d) for d in range(10)]], per_digit),
        "",
        mu_sentence(mu, accuracy),
        "",
    ]


def _sigma_section(sigma: dict[str, Any], accuracy: float | None) -> list[str]:
    rows = [
        [f"{f:g}", _num(d, ".3f"), _num(k, ".3f")]
        for f, d, k in zip(sigma["factors"], sigma["distance"], sigma["label_kept"], strict=True)
    ]
    return [
        "## 2. Effect of sigma",
        "",
        "![decode(mu + factor * sigma * eps)](sigma.png)",
        "",
        f"Same eps for every factor; {sigma['n_images']:,} held-out images; mean posterior "
        f"sigma {_num(sigma.get('sigma_mean'), '.3f')}.",
        "",
        _table(["factor", "distance (RMS, grey levels)", "label kept (fraction)"], rows),
        "",
        sigma_sentence(sigma, accuracy),
        "",
    ]


def _loss_terms_section(lt: dict[str, Any]) -> list[str]:
    rows = []
    for name in ("full", "kl_only", "reconstruction_only"):
        run = lt["runs"][name]
        cov = run.get("latent_cov") or []
        rows.append(
            [
                name,
                f"{run['kl_weight']:g} / {run['reconstruction_weight']:g}",
                _num(run.get("kl"), ".2f"),
                _num(run.get("reconstruction"), ".1f"),
                _num(run.get("knn_accuracy"), ".3f"),
                "[" + ", ".join(_num(m, ".2f") for m in run.get("latent_mean") or []) + "]",
                "[" + ", ".join(_num(cov[i][i], ".2f") for i in range(len(cov))) + "]",
                _num(run.get("moment_kl"), ".2f"),
            ]
        )
    header = [
        "run",
        "KL / reconstruction weight",
        "KL (nats/image)",
        "reconstruction (nats/image)",
        "kNN accuracy",
        "code mean",
        "code variances",
        "KL(N(mean, cov) || N(0, I)) (nats)",
    ]
    return [
        "## 3. The two terms of the loss",
        "",
        "![Latent codes of the three runs](loss-terms.png)",
        "",
        f"Three VAEs with the recipe above ({lt['epochs']} epochs = {lt['updates']:,} updates "
        f"each, latent {lt['latent_dim']}), identical but for the weights. KL and "
        "reconstruction on the held-out images (nats per image); kNN = 5-nearest-neighbour "
        f"accuracy of sampled codes (fraction, chance {lt['chance_accuracy']:.2f}); moments of "
        "the training images' sampled codes vs N(0, I).",
        "",
        _table(header, rows),
        "",
        loss_terms_sentence(lt["runs"], lt["chance_accuracy"]),
        "",
        "Training curves: [full](loss-curves.png), "
        "[KL only](loss-terms-kl_only-curves.png), "
        "[reconstruction only](loss-terms-reconstruction_only-curves.png).",
        "",
    ]


def _beta_section(beta: dict[str, Any]) -> list[str]:
    rows = [
        [f"{b:g}", _num(r), _num(k, ".2f"), _num(e), _num(n), f"{a} of {beta['latent_dim']}"]
        for b, r, k, e, n, a in zip(
            beta["betas"],
            beta["reconstruction"],
            beta["kl"],
            beta["neg_elbo"],
            beta["iwae_nll"],
            beta["active_units"],
            strict=True,
        )
    ]
    header = [
        "beta",
        "reconstruction (nats/image)",
        "KL (nats/image)",
        "-ELBO (nats/image)",
        f"IWAE -log p(x), k={beta['k']} (nats/image)",
        "active units",
    ]
    return [
        "## 4. Beyond the original: the beta sweep",
        "",
        "![Beta sweep](beta-sweep.png)",
        "",
        f"One VAE per beta (KL weight), latent {beta['latent_dim']}, {beta['epochs']} epochs = "
        f"{beta['updates']:,} updates on dynamically binarized training images; scored on "
        f"{beta['n_images']:,} held-out images binarized once (log p(x) of binary images). "
        f"IWAE with k = {beta['k']}. Active units: Var_x(mu_u) > 0.01 (Burda et al., 2016).",
        "",
        _table(header, rows),
        "",
        beta_sentence(beta),
        "",
    ]


def write_report(results: dict[str, Any]) -> str:
    """The Markdown of ``report.md`` from the dict ``results.json`` holds.

    Parameters
    ----------
    results : dict
        As written by ``vae_tf.reproduce.reproduce``: ``source_description``,
        ``recipe`` (the recipe that ran), ``settings`` (``n_train``, ``n_test``,
        ``epochs``, ``updates``, ``updates_in_original``, ``tensorflow``, ``keras``),
        ``model``, ``classifier_accuracy``, ``mu``, ``sigma``, ``loss_terms``,
        ``beta_sweep`` and ``elapsed_seconds``. Missing numbers are ``None``.

    Returns
    -------
    str: the report, Markdown; losses in nats per image.
    """
    accuracy = results.get("classifier_accuracy")
    lines = _header(results)
    lines += _mu_section(results["mu"], accuracy)
    lines += _sigma_section(results["sigma"], accuracy)
    lines += _loss_terms_section(results["loss_terms"])
    lines += _beta_section(results["beta_sweep"])
    lines += [
        "## Files",
        "",
        "`results.json` (all numbers and the recipe), `mu.json`, `sigma.json`, "
        "`loss-terms.json`, `beta-sweep.json`, `model.keras` (load with `import vae_tf.models` "
        "then `keras.models.load_model`), `history.json`.",
        "",
    ]
    return "\n".join(lines)
