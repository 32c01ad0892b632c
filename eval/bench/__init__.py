"""Backend benchmarks, each a ratio against a baseline measured in the same run (`python -m eval.bench`)."""
