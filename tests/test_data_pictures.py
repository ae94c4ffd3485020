"""Corpus pictures: variety per instrument, split disjointness, decoding, missing packages."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from avpc_plugin.data.drawings import TRAIN_STYLES, VAL_STYLES, draw_instrument
from avpc_plugin.data.instruments import INSTRUMENT_NAMES
from avpc_plugin.data.picture_sets import (
    FONT_SETS,
    ICON_SETS,
    OPENCLIPART,
    OPENCLIPART_VAL_RESERVED,
    icon_set_file,
    icon_svg,
    npm_specs,
)
from avpc_plugin.data.pictures import (
    PictureSource,
    load_picture,
    pick_picture,
    picture_sources,
    reserved_val_sources,
)

MIN_PICTURES, MIN_STYLES = 30, 6


def _require_npm_sets() -> None:
    missing = [s.npm_spec for s in ICON_SETS if not icon_set_file(s).is_file()]
    if missing:
        pytest.skip(f"npm picture sets not installed (make corpus-deps): {', '.join(missing)}")


@pytest.mark.parametrize("name", INSTRUMENT_NAMES)
def test_every_train_instrument_has_many_pictures_in_many_styles(name: str) -> None:
    sources = picture_sources("train", name)
    assert len({s.key for s in sources}) == len(sources)
    assert len(sources) >= MIN_PICTURES, name
    assert len({s.style for s in sources}) >= MIN_STYLES, name


def test_installed_npm_sets_give_every_catalogue_icon() -> None:
    """Train sets give the train split their icons; the val sets are reserved (kept for a wider
    val set: in neither split's list now, but installed and readable)."""
    _require_npm_sets()
    train = {s.key for name in INSTRUMENT_NAMES for s in picture_sources("train", name)}
    val = {s.key for name in INSTRUMENT_NAMES for s in picture_sources("val", name)}
    reserved = {s.key for name in INSTRUMENT_NAMES for s in reserved_val_sources(name)}
    for icon_set in ICON_SETS:
        for icons in icon_set.icons.values():
            for icon in icons:
                key = f"iconify:{icon_set.name}/{icon}"
                assert key in (train if icon_set.split == "train" else reserved), key
                assert key not in val
                assert "<svg" in icon_svg(icon_set, icon)


def test_no_picture_source_is_in_both_splits() -> None:
    # The catalogue: a set, font, file or drawing style belongs to one split only.
    assert len({s.name for s in ICON_SETS}) == len(ICON_SETS)
    assert len({f.name for f in FONT_SETS}) == len(FONT_SETS)
    train_files = {f for files in OPENCLIPART["train"].values() for f in files}
    val_files = {f for files in OPENCLIPART["val"].values() for f in files}
    reserved_files = {f for files in OPENCLIPART_VAL_RESERVED.values() for f in files}
    assert not train_files & val_files and not train_files & reserved_files
    assert not val_files & reserved_files
    assert not set(TRAIN_STYLES) & set(VAL_STYLES)
    # What this machine has: no key (set + icon, font + glyph, file, style + variant) in both,
    # and the pictures reserved for val in neither (unseen by training, unused by val for now).
    for name in INSTRUMENT_NAMES:
        train = {s.key for s in picture_sources("train", name)}
        val = {s.key for s in picture_sources("val", name)}
        reserved = {s.key for s in reserved_val_sources(name)}
        assert train and val and reserved and not train & val, name
        assert not reserved & (train | val), name
        assert not {s.style for s in picture_sources("val", name) if s.kind == "procedural"} & {
            s.style for s in picture_sources("train", name)
        }


def test_pictures_decode_to_rgba_squares() -> None:
    """One picture of every set, font, Openclipart file and drawing style installed here."""
    seen: dict[tuple[str, str], PictureSource] = {}
    for lister in (
        lambda name: picture_sources("train", name),
        lambda name: picture_sources("val", name),
        reserved_val_sources,
    ):
        for name in INSTRUMENT_NAMES:
            for source in lister(name):
                family = source.ref.split("/", 1)[0] if source.kind != "openclipart" else source.ref
                seen.setdefault((source.kind, family), source)
    for source in seen.values():
        picture = load_picture(source, 48)
        assert picture.shape == (48, 48, 4) and picture.dtype == np.uint8, source.key
        assert picture[..., 3].max() == 255, source.key  # something opaque


def test_a_missing_npm_set_contributes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVPC_PICTURE_DIR", str(tmp_path))
    for name in INSTRUMENT_NAMES:
        assert not [s for s in picture_sources("train", name) if s.kind == "iconify"]
    with pytest.raises(FileNotFoundError, match="@iconify-json/game-icons@"):
        icon_svg(next(s for s in ICON_SETS if s.name == "game-icons"), "tuba")


def test_a_missing_icon_names_the_set_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "node_modules" / "@iconify-json" / "game-icons"
    folder.mkdir(parents=True)
    (folder / "icons.json").write_text('{"prefix": "game-icons", "icons": {}}')
    monkeypatch.setenv("AVPC_PICTURE_DIR", str(tmp_path))
    with pytest.raises(KeyError, match=r"game-icons.*icons\.json has no icon 'tuba'"):
        icon_svg(next(s for s in ICON_SETS if s.name == "game-icons"), "tuba")


def test_npm_specs_are_pinned() -> None:
    specs = npm_specs()
    assert len(specs) == len(ICON_SETS)
    assert all(spec.startswith("@iconify-json/") and spec.count("@") == 2 for spec in specs)


def test_drawings_are_reproducible_and_variants_differ() -> None:
    first = np.asarray(draw_instrument("erhu", "sketch", 2, 96))
    assert np.array_equal(first, np.asarray(draw_instrument("erhu", "sketch", 2, 96)))
    assert not np.array_equal(first, np.asarray(draw_instrument("erhu", "sketch", 3, 96)))
    with pytest.raises(ValueError, match="style"):
        draw_instrument("erhu", "watercolour", 0, 96)  # type: ignore[arg-type]


def test_pick_picture_gives_every_style_its_share() -> None:
    sources = picture_sources("train", "violin")
    rng = np.random.default_rng(0)
    picks = Counter(pick_picture(sources, rng, "train").style for _ in range(2000))
    styles = {s.style for s in sources}
    assert set(picks) == styles
    share = 2000 / len(styles)
    assert all(0.6 * share < n < 1.4 * share for n in picks.values()), picks
    assert pick_picture(sources, np.random.default_rng(4), "train") == pick_picture(
        sources, np.random.default_rng(4), "train"
    )


def test_val_picks_draw_one_integer_as_the_val_split_always_has() -> None:
    """A val pick is ``sources[rng.integers(len(sources))]``: the same index and the same
    generator state after it as that expression (the frozen val draws)."""
    sources = picture_sources("val", "trumpet")
    for seed in range(20):
        rng, reference = np.random.default_rng(seed), np.random.default_rng(seed)
        assert pick_picture(sources, rng, "val") == sources[int(reference.integers(len(sources)))]
        assert rng.random() == reference.random()
