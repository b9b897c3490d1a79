"""The speed benchmarks' bookkeeping: argument handling, interleaving and report format.

No test here times anything: the benchmarks print figures, and these tests only check
that the figures are computed from the right measurements and named honestly.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    # The benchmarks are scripts, not a package: import them from their folder, as they
    # import each other.
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def harness():
    return _load("speed_harness")


@pytest.fixture(scope="module")
def train_speed():
    return _load("train_speed")


def test_interleave_warms_up_untimed_then_rotates_the_order_each_round(harness):
    calls = []
    contenders = {name: (lambda name=name: calls.append(name)) for name in "ABC"}
    results = harness.interleave(contenders, repeats=4)
    # One untimed warm-up each, then rounds rotated: ABC, BCA, CAB, ABC.
    assert calls == list("ABC" + "ABC" + "BCA" + "CAB" + "ABC")
    assert {name: len(rows) for name, rows in results.items()} == {"A": 4, "B": 4, "C": 4}


def test_interleave_rejects_no_contenders_and_no_rounds(harness):
    with pytest.raises(ValueError, match="contenders"):
        harness.interleave({}, repeats=3)
    with pytest.raises(ValueError, match="repeats"):
        harness.interleave({"A": lambda: None}, repeats=0)


def test_paired_ratio_divides_round_by_round_and_gives_median_and_range(harness):
    measurement = harness.Measurement
    # PyTorch rounds / Keras rounds: wall 2.0, 3.0, 1.0 ; CPU 4.0, 1.0, 2.0.
    torch_rounds = [measurement(4.0, 8.0), measurement(9.0, 3.0), measurement(5.0, 10.0)]
    keras_rounds = [measurement(2.0, 2.0), measurement(3.0, 3.0), measurement(5.0, 5.0)]
    ratio = harness.paired_ratio(torch_rounds, keras_rounds)
    assert (ratio.wall_median, ratio.wall_low, ratio.wall_high) == (2.0, 1.0, 3.0)
    assert (ratio.cpu_median, ratio.cpu_low, ratio.cpu_high) == (2.0, 1.0, 4.0)
    assert ratio.rounds == 3
    # Pairing by round matters: the ratio of the medians would be 5/3, not 2.
    assert ratio.describe().startswith("2.00x (1.00-3.00x) by the wall clock, 2.00x")


def test_paired_ratio_refuses_unpaired_rounds(harness):
    measurement = harness.Measurement(1.0, 1.0)
    with pytest.raises(ValueError, match="same number"):
        harness.paired_ratio([measurement, measurement], [measurement])


def test_speedup_line_says_met_only_when_both_clocks_reach_the_target(harness):
    measurement = harness.Measurement
    keras = [measurement(1.0, 1.0)] * 3
    both = harness.paired_ratio([measurement(2.5, 2.2)] * 3, keras)
    wall_only = harness.paired_ratio([measurement(2.5, 1.5)] * 3, keras)
    assert "target 2x met" in harness.speedup_line("x", both)
    assert "target 2x NOT met" in harness.speedup_line("x", wall_only)


def test_pin_threads_rejects_a_thread_count_below_one(harness):
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        harness.pin_threads(0)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--threads", "0"], "threads must be an integer >= 1, got 0"),
        (["--threads", "two"], "threads must be an integer >= 1, got 'two'"),
        (["--threads", "2", "2"], "each thread count once"),
        (["--repeats", "0"], "--repeats must be an integer >= 1, got '0'"),
        (["--images", "10"], "--images must be an integer >= 128, got '10'"),
    ],
)
def test_train_speed_rejects_bad_arguments_naming_them(train_speed, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        train_speed.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_train_speed_defaults_compare_at_one_and_two_threads_over_five_rounds(train_speed):
    args = train_speed.parse_args([])
    assert args.threads == [1, 2]
    assert args.repeats == 5
    assert args.images == 60_000


def test_train_speed_report_names_threads_data_rounds_and_both_clocks(train_speed, harness):
    measurement = harness.Measurement
    results = {
        "Keras fit": [measurement(2.0, 3.0), measurement(4.0, 4.0)],
        "PyTorch loop": [measurement(5.0, 6.0), measurement(6.0, 8.0)],
    }
    part = train_speed.section("default path", 60_000, results, [("Keras fit", "PyTorch loop")])
    (line,) = train_speed.comparison_lines({"threads": 1, "sections": [part]})
    assert line.startswith("1 thread, default path (the offline sample (5,000 real MNIST")
    assert "repeated to 60,000 images per epoch" in line
    assert "Keras fit vs PyTorch loop" in line
    # Rounds: wall 2.5 and 1.5 (median 2.0), CPU 2.0 and 2.0.
    assert "2.00x (1.50-2.50x) by the wall clock" in line
    assert "2.00x (2.00-2.00x) by CPU seconds" in line
    assert "median and range of 2 interleaved rounds" in line
    assert line.endswith("target 2x met by both medians")


def test_format_table_gives_median_seconds_range_cpu_and_images_per_second(harness):
    measurement = harness.Measurement
    lines = harness.format_table(
        {"Keras": [measurement(2.0, 3.0), measurement(4.0, 5.0), measurement(3.0, 1.0)]},
        images=6_000,
    )
    header, row = lines
    assert "s/epoch median" in header and "CPU s median" in header
    assert row.split() == ["Keras", "3.00", "2.00-4.00", "3.00", "2000"]


@pytest.fixture(scope="module")
def iwae_scoring():
    return _load("iwae_scoring")


def test_iwae_scoring_defaults_score_10000_images_at_k_500_on_2_threads(iwae_scoring):
    args = iwae_scoring.parse_args([])
    assert (args.arch, args.images, args.k, args.threads) == ("conv", 10_000, 500, 2)
    assert args.xla == "auto" and args.run is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--images", "0"], "--images must be an integer >= 1, got '0'"),
        (["--k", "many"], "--k must be an integer >= 1, got 'many'"),
        (["--threads", "0"], "threads must be an integer >= 1, got 0"),
        (["--arch", "resnet"], "invalid choice: 'resnet'"),
        (["--xla", "maybe"], "invalid choice: 'maybe'"),
    ],
)
def test_iwae_scoring_rejects_bad_arguments_naming_them(iwae_scoring, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        iwae_scoring.parse_args(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_iwae_scoring_rejects_a_run_folder_without_a_model(iwae_scoring, capsys, tmp_path):
    with pytest.raises(SystemExit):
        iwae_scoring.parse_args(["--run", str(tmp_path)])
    assert f"--run {tmp_path}: no model.keras in that folder" in capsys.readouterr().err


def test_iwae_scoring_says_when_images_are_repeated(iwae_scoring):
    import numpy as np

    images = np.arange(3)
    assert iwae_scoring.repeated(images, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert iwae_scoring.repeated(images, 2).tolist() == [0, 1]
    assert iwae_scoring.data_sentence("MNIST", 3, 2) == "2 of the 3 held-out images (MNIST)"
    repeated = iwae_scoring.data_sentence("MNIST", 3, 7)
    assert repeated.startswith("the 3 held-out images (MNIST), repeated 2.33 times to 7 images")


def test_iwae_scoring_extrapolates_to_10000_images_and_gives_the_verdict(iwae_scoring):
    # 500 images in 25 s: 20 images per second, so 10,000 images take 500 s (8.3 min).
    lines = iwae_scoring.report_lines(images=500, k=500, wall=25.0, cpu=45.0, threads=2)
    assert "25.0 s wall clock, 45.0 CPU s of the process (1.80 cores busy)" in lines[0]
    assert "20.0 images per second" in lines[0]
    assert lines[1].startswith("Extrapolated to 10,000 images at k=500 on 2 thread(s): 500 s")
    assert lines[1].endswith("NOT within the 5-minute target")
    fast = iwae_scoring.report_lines(images=500, k=500, wall=10.0, cpu=10.0, threads=2)
    assert "200 s (3.3 minutes), within the 5-minute target" in fast[1]
    other_k = iwae_scoring.report_lines(images=500, k=10, wall=10.0, cpu=10.0, threads=2)
    assert other_k[1].endswith("no verdict: the 5-minute target is for k=500")
