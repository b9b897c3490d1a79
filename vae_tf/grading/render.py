"""Rendering an executed student notebook as HTML, inside the sandbox, under limits.

Started by the grader (:func:`vae_tf.grading.grader.render_html`) as
``python -m vae_tf.grading.render --result-fd N`` in a sandbox of its own, with a time and a
memory limit: a student controls the notebook's text, and nbconvert's Markdown renderer takes
time quadratic in some inputs (1 MB of ``[`` takes hours), so rendering must never run in the
grader's own process. It reads the notebook (JSON) on stdin and writes the HTML to file
descriptor ``N``. No student code runs in this process: it only reads their text.

Scripts, event-handler attributes and ``javascript:`` links from the student's Markdown and
outputs are escaped or dropped by nbconvert's sanitizer (``sanitize_html=True``); the only
``<script>`` elements of the page are nbconvert's template's own.
"""

from __future__ import annotations

import argparse
import os
import sys


def render(notebook_json: str) -> str:
    """The HTML of a notebook (JSON text): outputs capped, student HTML sanitized."""
    import nbformat
    from nbconvert import HTMLExporter

    from vae_tf.grading.notebook_runner import cap_outputs

    notebook = nbformat.reads(notebook_json, as_version=4)
    body, _resources = HTMLExporter(sanitize_html=True).from_notebook_node(cap_outputs(notebook))
    return body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vae_tf.grading.render",
        description="Internal: render an executed notebook (JSON on stdin) as HTML for the grader.",
    )
    parser.add_argument("--result-fd", type=int, required=True)
    args = parser.parse_args(argv)
    result = os.fdopen(args.result_fd, "w", encoding="utf-8", errors="backslashreplace")
    html = render(sys.stdin.read())
    with result:
        result.write(html)


if __name__ == "__main__":
    main()
