"""The workflows behind the CLI, each only orchestration over the library:

- ``run``: model x precision configs x hardware profiles -> results, layers, report;
- ``sensitivity``: per-group scoring, ranking and budgeted mixed precision;
- ``validate``: the integer kernels against the reference and the float path.
"""
