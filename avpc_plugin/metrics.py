"""Separation quality metrics (BSS Eval through ``mir_eval``), in one place."""

from __future__ import annotations

import warnings

import numpy as np


def bss_eval(reference: np.ndarray, estimate: np.ndarray) -> dict[str, np.ndarray]:
    """BSS Eval v3 source-to-distortion / interference / artifact ratios, source by source.

    Args:
        reference: ``(N, L)`` true sources (each must not be all zeros).
        estimate: ``(N, L)`` estimates, in the same order (no permutation search); an all-zero
            estimate scores ``-inf`` on every ratio and is left out of the others' decomposition
            (``mir_eval`` cannot decompose onto a silent estimate).

    Returns:
        ``{"sdr", "sir", "sar"}``: ``(N,)`` float64 arrays in dB (``sir`` is ``inf`` when N = 1).

    Raises:
        ValueError: shapes differ or are not ``(N, L)``, or a reference is all zeros.
    """
    import mir_eval  # deferred: slow to import (about 1 s), only the BSS ratios need it

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


METRIC_NAMES = ("sdr", "sir", "sar", "nsdr")
"""The scores :func:`separation_scores` reports per source."""


def separation_scores(
    reference: np.ndarray,
    estimate: np.ndarray,
    mixture: np.ndarray,
    sdr_mix: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """BSS Eval of one separated mixture plus the mixture baseline, source by source.

    ``nsdr`` is the SDR gain over using the mixture itself as every source's estimate
    (``SDR(estimate) - SDR(mixture)``, both by :func:`bss_eval` over all ``N`` sources, as the
    reference's ``sdr_mix`` is computed).

    Args:
        reference: ``(N, L)`` true sources.
        estimate: ``(N, L)`` separated sources, same order.
        mixture: ``(L,)`` the mixture the sources were separated from.
        sdr_mix: ``(N,)`` the mixture's own SDR, when already known (``sdr_mix`` of an earlier
            call on the same reference and mixture): saves one BSS Eval per call.

    Returns:
        ``{"sdr", "sir", "sar", "nsdr", "sdr_mix"}``: ``(N,)`` float64 arrays in dB.

    Raises:
        ValueError: as :func:`bss_eval`, or a mixture that is not ``(L,)``.
    """
    reference = np.asarray(reference, dtype=np.float64)
    mixture = np.asarray(mixture, dtype=np.float64)
    if mixture.ndim != 1 or reference.ndim != 2 or mixture.shape[0] != reference.shape[-1]:
        raise ValueError(
            f"mixture: expected (L,) with L = {reference.shape[-1:]} of the reference, got "
            f"{mixture.shape}"
        )
    scores = bss_eval(reference, estimate)
    if sdr_mix is None:
        sdr_mix = bss_eval(reference, np.broadcast_to(mixture, reference.shape))["sdr"]
    return {**scores, "nsdr": scores["sdr"] - sdr_mix, "sdr_mix": sdr_mix}


def summarize(values: np.ndarray | list[float]) -> dict[str, float]:
    """Mean and median of the finite values in dB (``-inf`` of silent estimates left out).

    Returns:
        ``{"mean", "median", "count"}``; mean and median are NaN when no value is finite.
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return {"mean": float("nan"), "median": float("nan"), "count": 0}
    return {
        "mean": float(finite.mean()),
        "median": float(np.median(finite)),
        "count": int(finite.size),
    }
