"""Evaluation: the offline A/B harness (`python -m eval.ab`) and benchmarks (`python -m eval.bench`)."""
