"""Offline A/B evaluation: run pipeline variants over an eval set, compare them with paired statistics, report.

Entry point: `python -m eval.ab --config eval/configs/ab_retrieval.yaml` (docs/eval.md).
"""
