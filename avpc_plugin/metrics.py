"""Separation quality metrics (BSS Eval through ``mir_eval``), in one place."""

from __future__ import annotations

import warnings

import numpy as np


def bss_eval(reference: np.ndarray, estimate: np.ndarray) -> dict[str, np.ndarray]:
    """BSS Eval v3 source-to-distortion / interference / artifact ratios, source by source.

    Args:
        reference: ``(N, L)`` true sources (each must not be all zeros).
        estimate: ``(N, L)`` estimates, in the same order (no permutation search); an all-zero
            estimate scores ``-inf`` on every ratio.

    Returns:
        ``{"sdr", "sir", "sar"}``: ``(N,)`` float64 arrays in dB (``sir`` is ``inf`` when N = 1).

    Raises:
        ValueError: shapes differ or are not ``(N, L)``, or a reference is all zeros.
    """
    import mir_eval

    reference = np.asarray(reference, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if reference.ndim != 2 or reference.shape != estimate.shape or reference.shape[1] == 0:
        raise ValueError(
            f"reference, estimate: expected two (N, L) arrays of one shape, got "
            f"{reference.shape} and {estimate.shape}"
        )
    silent_reference = ~np.any(reference, axis=1)
    if silent_reference.any():
        raise ValueError(f"reference: source(s) {np.flatnonzero(silent_reference)} are all zeros")
    scores = {key: np.full(len(reference), -np.inf) for key in ("sdr", "sir", "sar")}
    audible = np.any(estimate, axis=1)
    if audible.any():
        with warnings.catch_warnings():  # mir_eval 0.8 deprecates bss_eval_sources, still v3
            warnings.simplefilter("ignore", FutureWarning)
            sdr, sir, sar, _ = mir_eval.separation.bss_eval_sources(
                reference[audible], estimate[audible], compute_permutation=False
            )
        for key, values in zip(("sdr", "sir", "sar"), (sdr, sir, sar), strict=True):
            scores[key][audible] = values
    return scores
