"""Rendered product photos: reproducible, in the colour they are named for, and different across seeds."""

from __future__ import annotations

import numpy as np
import pytest

from finetune.demo.render import COLOURS, OBJECTS, catalogue, product_photo


def test_same_seed_same_pixels_other_seed_other_scene():
    a = np.asarray(product_photo("mug", "red", seed=3).image)
    b = np.asarray(product_photo("mug", "red", seed=3).image)
    c = np.asarray(product_photo("mug", "red", seed=4).image)
    assert a.shape == (224, 224, 3)
    assert (a == b).all()
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


@pytest.mark.parametrize("colour", list(COLOURS))
def test_the_object_is_drawn_in_its_colour(colour):
    names = list(COLOURS)
    refs = np.array([rgb for rgb, _ in COLOURS.values()])
    for obj in OBJECTS:
        pixels = np.asarray(product_photo(obj, colour, seed=11).image).reshape(-1, 3).astype(int)
        dist = np.abs(pixels[:, None, :] - refs[None, :, :]).sum(-1)
        nearest = dist.argmin(1)[dist.min(1) < 60]
        counts = dict(zip(names, np.bincount(nearest, minlength=len(refs)), strict=True))
        assert counts[colour] > 0.015 * len(pixels), (obj, counts)
        # outlines, shadows and phone screens are dark: among the hues, the named one dominates
        if colour not in ("black", "gray"):
            hues = {k: v for k, v in counts.items() if k not in ("black", "gray")}
            assert max(hues, key=hues.get) == colour, (obj, counts)


def test_captions_in_both_languages_and_bad_names_refused():
    photo = product_photo("t-shirt", "orange", seed=0)
    assert photo.caption() == "An orange t-shirt."
    assert photo.caption("zh") == "一个橙色的T恤。"
    assert len(catalogue(range(2), size=64)) == 2 * len(COLOURS) * len(OBJECTS)
    with pytest.raises(ValueError, match="unknown object 'car'"):
        product_photo("car", "red", 0)
    with pytest.raises(ValueError, match="unknown colour 'teal'"):
        product_photo("mug", "teal", 0)
