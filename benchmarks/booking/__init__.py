"""Benchmarks of the public booking path (slots, booking, concurrent booking). Run: python -m benchmarks.booking"""
