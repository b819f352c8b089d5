"""Benchmarks (`make bench`): event ingestion through uvicorn and analytics over a million events."""
