"""Warm overhead of an HTTP function outside the database (issue 14 goal 5): ``python -m benchmarks.warm``."""
