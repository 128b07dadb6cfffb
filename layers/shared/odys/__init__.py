"""Odys: the shared layer of the Odys serverless backend (services, data access, and their cores)."""
