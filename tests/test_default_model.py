"""The shipped default model keeps the quality recorded on its model card.

``tests/fixtures/default_model/`` is a small benchmark set (2-source mixtures of the val split,
copied from ``data/bench``: see its README.md) with ``expected.json``, the default model's mean SDR
on it when the model was registered. The test separates the set again through the Separator (the
one inference path, binary masks at 0.5 as ``avpc evaluate``) and asks for the same SDR within
0.5 dB. Re-record after registering a new default model (and update its card):

    python tests/test_default_model.py --record
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch

from avpc_plugin.checkpoints.registry import default_model
from avpc_plugin.evaluate.benchmark import (
    MODEL_ROW,
    evaluate_benchmark,
    read_manifest,
    separator_function,
)
from avpc_plugin.separate import Separator
from avpc_plugin.stem_settings import reference_preset

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "default_model"
EXPECTED = FIXTURE / "expected.json"
TOLERANCE_DB = 0.5


def fixture_scores() -> dict[str, Any]:
    """The default model's name, sha256 and mean / per-mixture SDR on the fixture set."""
    entry = default_model()
    assert entry is not None, "the model registry has no default model"
    torch.manual_seed(0)
    separator = Separator.from_pretrained(
        entry.name, device="cpu", default_preset=reference_preset(0.5)
    )
    result = evaluate_benchmark(
        read_manifest(FIXTURE), separator_function(separator), reference_rows=False
    )
    overall = result.summary[MODEL_ROW]["overall"]
    return {
        "model": entry.name,
        "sha256": entry.sha256,
        "card": None if entry.card is None else str(entry.card.name),
        "sdr_mean": round(overall["sdr"]["mean"], 3),
        "nsdr_mean": round(overall["nsdr"]["mean"], 3),
        "sdr_per_source": [round(row["sdr"], 3) for row in result.rows],
    }


def test_default_model_keeps_the_sdr_on_its_card() -> None:
    expected = json.loads(EXPECTED.read_text())
    entry = default_model()
    assert entry is not None and entry.name == expected["model"]
    assert entry.sha256 == expected["sha256"], "a new default model: re-record (see docstring)"
    assert entry.card is not None and f"{expected['sdr_mean']:.2f} dB" in entry.card.read_text()
    torch.set_num_threads(1)
    scores = fixture_scores()
    assert abs(scores["sdr_mean"] - expected["sdr_mean"]) <= TOLERANCE_DB, scores


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit(__doc__)
    recorded = fixture_scores()
    EXPECTED.write_text(json.dumps(recorded, indent=1) + "\n")
    print(json.dumps(recorded, indent=1))
