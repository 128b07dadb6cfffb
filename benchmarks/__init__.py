"""Benchmarks: run with `make bench` or `.venv/bin/python -m benchmarks.<name>`; see benchmarks/README.md."""
