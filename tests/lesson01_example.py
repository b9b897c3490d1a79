"""Small lesson-01 notebooks built in code, for the grader's tests and benchmark.

They hold solution text, so they live here, not in the installed package, where a student
could import them while being graded.

They follow the course conventions exactly (notebook and exercise-cell metadata,
solution markers, self-check cells), so they double as a minimal example of a lesson.
"""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

SCALE_PIXELS_SOLUTION = '''\
import numpy as np


def scale_pixels(images):
    """uint8 images (N, 28, 28) or (N, 28, 28, 1) -> float32 in [0, 1], shaped (N, 28, 28, 1)."""
    ### BEGIN SOLUTION
    ### HINT: convert to float32, divide by 255, add a channel axis when there is none
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images.astype(np.float32) / 255.0
    ### END SOLUTION
'''

BINARIZE_SOLUTION = '''\
import numpy as np


def binarize(images, seed):
    """Static binarization: each pixel is 1 with probability equal to its intensity."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    return (rng.random(images.shape) < images).astype(np.float32)
    ### END SOLUTION
'''


def lesson01_notebook(
    scale_pixels_source: str = SCALE_PIXELS_SOLUTION,
    binarize_source: str = BINARIZE_SOLUTION,
    *,
    extra_cells: list[str] | None = None,
    with_metadata: bool = True,
) -> nbformat.NotebookNode:
    """A lesson-01-like notebook: two exercise cells, each followed by its self-check.

    ``extra_cells`` are code cells appended at the end (e.g. a student's own experiments).
    Without ``with_metadata`` the notebook carries no course metadata at all, as after an
    editor dropped it; the lesson is then found from the ``check(...)`` calls.
    """
    cells = [
        new_markdown_cell("# Lesson 01: data\n\nScale and binarize MNIST pixels."),
        new_code_cell(scale_pixels_source),
        new_code_cell('from vae_tf.grading import check\n\ncheck("scale_pixels", scale_pixels)'),
        new_code_cell(binarize_source),
        new_code_cell('check("binarize", binarize)'),
    ]
    if with_metadata:
        cells[1].metadata["vae_course"] = {"exercise": "scale_pixels"}
        cells[3].metadata["vae_course"] = {"exercise": "binarize"}
    cells.extend(new_code_cell(source) for source in extra_cells or [])
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    if with_metadata:
        notebook.metadata["vae_course"] = {
            "lesson": "01_data",
            "title": "Setup and data",
            "exercises": ["scale_pixels", "binarize"],
        }
    return notebook
