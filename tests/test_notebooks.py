"""Every solution notebook runs top to bottom in a fresh kernel, in the fast setting.

The notebooks are executed once per session (two at a time, one per core) and each
test then reads one notebook's outcome. The fast setting (``VAE_TF_FAST=1``) is set for
the kernels here, so the README's plain ``pytest`` runs them quickly in CI too.
"""

from __future__ import annotations

import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO_ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))
CELL_TIMEOUT = 600


def _execute(path: Path, workdir: Path) -> dict:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc)[-3000:]
    return {"notebook": notebook, "error": error, "seconds": time.perf_counter() - start}


@pytest.fixture(scope="session")
def executed(tmp_path_factory):
    assert SOLUTIONS, "solutions/ holds no notebook to execute"
    # Kernels inherit this process's environment: fast setting on, TensorFlow quiet.
    os.environ["VAE_TF_FAST"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    workdir = tmp_path_factory.mktemp("notebook-runs")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {path.stem: pool.submit(_execute, path, workdir) for path in SOLUTIONS}
        results = {stem: future.result() for stem, future in futures.items()}
    os.environ.pop("VAE_TF_FAST", None)
    for stem, result in results.items():
        print(f"{stem}: {result['seconds']:.0f} s", file=sys.stderr)
    return results


def _outputs_text(notebook) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output.get("text", ""))
            elif "data" in output and "text/plain" in output["data"]:
                texts.append(output["data"]["text/plain"])
    return "\n".join(texts)


@pytest.mark.slow
@pytest.mark.parametrize("stem", [path.stem for path in SOLUTIONS])
def test_solution_notebook_runs_top_to_bottom_in_a_fresh_kernel(executed, stem):
    result = executed[stem]
    assert result["error"] is None, f"{stem} failed:\n{result['error']}"


@pytest.mark.slow
@pytest.mark.parametrize("stem", [path.stem for path in SOLUTIONS])
def test_every_self_check_passes_in_the_solution_notebook(executed, stem):
    notebook = executed[stem]["notebook"]
    exercises = notebook.metadata["vae_course"]["exercises"]
    text = _outputs_text(notebook)
    assert "NOT YET" not in text
    for name in exercises:
        assert f"PASSED: exercise '{name}'" in text, f"{stem}: no passing self-check for {name}"


@pytest.mark.slow
@pytest.mark.parametrize("stem", [path.stem for path in SOLUTIONS])
def test_solution_notebook_prints_the_data_source(executed, stem):
    text = _outputs_text(executed[stem]["notebook"])
    assert "Data:" in text or "offline sample" in text or "full MNIST" in text


def test_the_notebook_tests_have_notebooks_to_test():
    # The tests parametrized by SOLUTIONS would pass vacuously, with no case, on an empty list.
    assert len(SOLUTIONS) >= 8, [path.name for path in SOLUTIONS]


@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.stem for path in SOLUTIONS])
def test_committed_notebooks_have_cleared_outputs(path):
    for folder in ("solutions", "lessons"):
        notebook = nbformat.read(REPO_ROOT / folder / path.name, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                assert cell.outputs == [], f"{folder}/{path.name} cell {index} has outputs"
                assert cell.execution_count is None, f"{folder}/{path.name} cell {index}"


@pytest.mark.slow
@pytest.mark.parametrize("stem", [path.stem for path in SOLUTIONS if path.stem != "01_data"])
def test_training_notebooks_print_the_recipe_that_ran(executed, stem):
    text = _outputs_text(executed[stem]["notebook"])
    # RECIPE.describe() in the fast setting: the recipe's network, its budget, the flag.
    assert "784-512-" in text and "16 updates" in text and "fast setting" in text


_OWN_TRAINING_NUMBERS = re.compile(
    r"\bepochs\s*=\s*\d|learning_rate\s*=|load_mnist\(.*batch_size\s*=\s*\d"
    r"|fast_mode\(\)\s*else\s*\d+\s*$"
    r"|EPOCHS\s*=\s*\d"
    # the loss weights and the binarization are the recipe's too (RECIPE.replace(kl_weight=...))
    r"|train_vae\((?:[^()]|\([^()]*\))*\b(kl_weight|reconstruction_weight|binarize)\s*="
    r"|load_mnist\(.*binarize\s*=\s*[\"']"
)


@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.stem for path in SOLUTIONS])
def test_solutions_take_every_training_setting_from_the_recipe(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            if "N_IMAGES" in line:  # how many images an experiment measures, not training
                continue
            assert not _OWN_TRAINING_NUMBERS.search(line), (
                f"{path.name} cell {index}: {line.strip()!r} sets a training number; "
                "read it from vae_tf.recipe instead"
            )
