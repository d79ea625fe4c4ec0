"""Loads the grader's plugin and fixtures when pytest collects this folder (``pytest grader``)."""

pytest_plugins = ["grader.plugin", "grader.fixtures"]
