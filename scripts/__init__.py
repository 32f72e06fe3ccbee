"""Entry points run from the repository root as modules (`python -m scripts.main_job`), and their helpers."""
