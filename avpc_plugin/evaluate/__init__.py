"""Evaluation: BSS Eval of a model on a benchmark set, next to the mixture and oracle masks."""

from avpc_plugin.evaluate.benchmark import (
    BenchmarkError,
    BenchmarkMixture,
    EvaluationResult,
    evaluate_benchmark,
    oracle_estimates,
    read_manifest,
    separator_function,
)
from avpc_plugin.evaluate.report import format_markdown, format_table, write_reports

__all__ = [
    "BenchmarkError",
    "BenchmarkMixture",
    "EvaluationResult",
    "evaluate_benchmark",
    "format_markdown",
    "format_table",
    "oracle_estimates",
    "read_manifest",
    "separator_function",
    "write_reports",
]
