"""The one compiled part: the C CSV reader (focus_assets/focus/_records.c). Everything else is in
pyproject.toml. Optional: where no C compiler is found, the package installs without it and
polars' reader parses every piece (the same results, slower: docs/performance.md)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("focus_assets.focus._records", ["focus_assets/focus/_records.c"], optional=True)])
