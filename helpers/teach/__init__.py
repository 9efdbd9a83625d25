"""Instructor tooling: run the series headless (runner, kernels), grade a prefix, the class report, the CLI."""
