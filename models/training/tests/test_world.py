import random

import numpy as np
import pytest

from models.training import world
from models.training.train_checker import dominant_colour


def _foreground(image: np.ndarray, scene: world.Scene) -> np.ndarray:
    bg = np.array(world.BACKGROUNDS[scene.background], dtype=np.float32)
    return np.abs(image.astype(np.float32) - bg).sum(axis=-1) > 90


@pytest.fixture(scope="module")
def scenes():
    return world.make_split("val", 600)


def test_splits_are_deterministic_and_distinct():
    assert world.make_split("test", 50) == world.make_split("test", 50)
    train = set(world.make_split("train", 2000))
    assert not train & set(world.make_split("test", 1000))


def test_world_covers_the_required_attributes():
    assert len(world.SHAPES) >= 4 and len(world.COLOURS) >= 7 and len(world.SIZES) == 3 and len(world.BACKGROUNDS) >= 2


def test_every_caption_attribute_holds_in_its_image(scenes):
    rng = random.Random(0)
    sizes = {name: [] for name in world.SIZES}
    for scene in scenes:
        image = world.render(scene)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        caption = world.random_caption(scene, rng)
        assert caption.matches(scene)
        fg = _foreground(image, scene)
        ys, xs = np.nonzero(fg)
        assert len(xs) > 20, "the object must be visible"
        # colour: the pixel rule recovers it
        assert dominant_colour(image) == scene.colour
        # background: the corners are the background colour
        corner = image[0, 0].astype(int)
        assert np.abs(corner - np.array(world.BACKGROUNDS[scene.background])).max() <= 10
        # position: the object's centre lies in the named ninth of the canvas
        row, col = scene.position.split()
        # pixel i covers [i, i + 1): its centre is at i + 0.5
        assert int((ys.mean() + 0.5) // (64 / 3)) == world.ROWS.index(row)
        assert int((xs.mean() + 0.5) // (64 / 3)) == world.COLUMNS.index(col)
        sizes[scene.size].append(fg.sum())
    small, medium, large = (np.median(sizes[s]) for s in ("small", "medium", "large"))
    assert small < medium < large


def test_caption_text_names_exactly_its_attributes(scenes):
    rng = random.Random(1)
    for scene in scenes:
        for count in range(len(world.ATTRIBUTES) + 1):
            named = rng.sample(world.ATTRIBUTES, count)
            caption = world.caption_for(scene, named, rng)
            assert set(caption.attributes) == set(named)
            text = caption.text
            for attribute, value in caption.attributes.items():
                words = {
                    "shape": world.SHAPE_WORDS, "colour": world.COLOUR_WORDS, "size": world.SIZE_WORDS,
                    "position": world.POSITION_PHRASES, "background": world.BACKGROUND_PHRASES,
                }[attribute][value]
                assert any(w in text for w in words), (text, attribute, value)
            if "colour" not in caption.attributes:
                assert not any(w in text.split() for ws in world.COLOUR_WORDS.values() for w in ws), text
            if "shape" not in caption.attributes:
                assert any(n in text for n in world.GENERIC_NOUNS), text


def test_captions_vary_in_word_order():
    rng = random.Random(2)
    scene = world.make_split("val", 1)[0]
    texts = {world.full_caption(scene, rng).text for _ in range(200)}
    starts = {t.split()[0] for t in texts}
    assert len(texts) > 20 and len(starts) >= 3
