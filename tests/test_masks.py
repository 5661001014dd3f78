"""wlra_core.masks: the preset holes the app and the inpainting benchmark share."""
import numpy as np
import pytest

import wlra_core as wc
from wlra_core.problem import InputError


def test_presets_are_seeded_and_combine():
    a = wc.masks.preset_hidden((64, 96), dropout=0.3, text="AB", scratches=3, block=0.25, seed=4)
    b = wc.masks.preset_hidden((64, 96), dropout=0.3, text="AB", scratches=3, block=0.25, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, wc.masks.preset_hidden((64, 96), dropout=0.3, seed=5))
    assert wc.masks.preset_hidden((64, 96), block=0.25)[32, 48]           # the centre block
    assert not wc.masks.preset_hidden((64, 96)).any()
    drop = wc.masks.preset_hidden((200, 200), dropout=0.5, seed=1)
    assert drop.mean() == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("kwargs, match", [
    ({"dropout": 1.5}, "dropout"), ({"scratches": -1}, "scratches"), ({"block": 2.0}, "block"),
    ({"seed": -3}, "seed"), ({"text_size": 0.0}, "text_size"), ({"text": 5}, "text"),
])
def test_bad_presets_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        wc.masks.preset_hidden((10, 10), **kwargs)
