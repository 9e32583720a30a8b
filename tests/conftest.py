"""Registers the pipeline's pytest plugin (options, fixtures, hooks) for every tier."""

pytest_plugins = ["support.pytest_plugin"]
