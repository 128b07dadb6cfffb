"""The hot paths against a durable PostgreSQL, beside one durable INSERT. Run: python -m benchmarks.durable"""
