"""The synthetic shapes world: scenes with known attributes, their images and captions.

Everything is a pure function of a seed, so the train / validation / test splits are fixed.
A caption names a subset of its scene's attributes; the set of scenes it matches is known exactly.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, asdict
from typing import Dict, List

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 64
SUPERSAMPLE = 4

SHAPES = ["circle", "square", "triangle", "cross"]
COLOURS: Dict[str, tuple] = {
    "red": (220, 35, 35),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 175, 60),
    "blue": (40, 85, 230),
    "purple": (135, 50, 200),
    "pink": (250, 125, 190),
}
SIZES = {"small": 7.0, "medium": 11.0, "large": 15.0}  # half-extent in pixels at 64x64
ROWS = ["top", "middle", "bottom"]
COLUMNS = ["left", "centre", "right"]
POSITIONS = [f"{r} {c}" for r in ROWS for c in COLUMNS]
# Centre coordinates stay inside their ninth of the canvas so a position word is never ambiguous.
_CELL_RANGES = [(14.0, 20.0), (29.0, 35.0), (44.0, 50.0)]
BACKGROUNDS: Dict[str, tuple] = {"dark": (28, 28, 34), "light": (226, 226, 218)}

ATTRIBUTES = ["shape", "colour", "size", "position", "background"]

SPLIT_SEEDS = {"train": 1, "val": 2, "test": 3}


@dataclass(frozen=True)
class Scene:
    shape: str
    colour: str
    size: str
    position: str
    background: str
    cx: float
    cy: float
    rotation: float
    colour_jitter: tuple
    background_jitter: int

    def attributes(self) -> Dict[str, str]:
        return {a: getattr(self, a) for a in ATTRIBUTES}


def sample_scene(rng: random.Random) -> Scene:
    position = rng.choice(POSITIONS)
    row, col = position.split()
    lo_x, hi_x = _CELL_RANGES[COLUMNS.index(col)]
    lo_y, hi_y = _CELL_RANGES[ROWS.index(row)]
    return Scene(
        shape=rng.choice(SHAPES),
        colour=rng.choice(list(COLOURS)),
        size=rng.choice(list(SIZES)),
        position=position,
        background=rng.choice(list(BACKGROUNDS)),
        cx=rng.uniform(lo_x, hi_x),
        cy=rng.uniform(lo_y, hi_y),
        rotation=rng.uniform(-10.0, 10.0),
        colour_jitter=tuple(rng.randint(-12, 12) for _ in range(3)),
        background_jitter=rng.randint(-8, 8),
    )


def _clip_rgb(values) -> tuple:
    return tuple(int(min(255, max(0, v))) for v in values)


def _rotate(points, cx, cy, degrees):
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in points]


def render(scene: Scene) -> np.ndarray:
    """Renders a scene to a uint8 array [64, 64, 3], drawn at 4x and downsampled for clean edges."""
    k = SUPERSAMPLE
    bg = _clip_rgb(v + scene.background_jitter for v in BACKGROUNDS[scene.background])
    fg = _clip_rgb(a + b for a, b in zip(COLOURS[scene.colour], scene.colour_jitter))
    canvas = Image.new("RGB", (IMAGE_SIZE * k, IMAGE_SIZE * k), bg)
    draw = ImageDraw.Draw(canvas)
    cx, cy, r = scene.cx * k, scene.cy * k, SIZES[scene.size] * k
    if scene.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif scene.shape == "square":
        s = r * 0.88  # equal area-ish with the circle keeps size words honest
        draw.polygon(_rotate([(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)], cx, cy, scene.rotation), fill=fg)
    elif scene.shape == "triangle":
        # centred on its centroid (a third of the height above the base), so position words stay true
        height = 1.6 * r
        pts = [(cx, cy - height * 2 / 3), (cx + r * 0.95, cy + height / 3), (cx - r * 0.95, cy + height / 3)]
        draw.polygon(_rotate(pts, cx, cy, scene.rotation), fill=fg)
    elif scene.shape == "cross":
        w = r * 0.36
        bars = [
            [(cx - r, cy - w), (cx + r, cy - w), (cx + r, cy + w), (cx - r, cy + w)],
            [(cx - w, cy - r), (cx + w, cy - r), (cx + w, cy + r), (cx - w, cy + r)],
        ]
        for bar in bars:
            draw.polygon(_rotate(bar, cx, cy, scene.rotation), fill=fg)
    else:
        raise ValueError(f"unknown shape {scene.shape!r}")
    small = canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS)
    return np.asarray(small, dtype=np.uint8)


# ---- captions ---------------------------------------------------------------------------------

SHAPE_WORDS = {
    "circle": ["circle", "disc", "disk"],
    "square": ["square", "box"],
    "triangle": ["triangle"],
    "cross": ["cross", "plus sign"],
}
GENERIC_NOUNS = ["shape", "object", "thing", "figure"]
COLOUR_WORDS = {
    "red": ["red", "scarlet"],
    "orange": ["orange"],
    "yellow": ["yellow", "golden"],
    "green": ["green"],
    "blue": ["blue", "azure"],
    "purple": ["purple", "violet"],
    "pink": ["pink"],
}
SIZE_WORDS = {"small": ["small", "little", "tiny"], "medium": ["medium", "medium-sized", "mid-sized"], "large": ["large", "big", "huge"]}
POSITION_PHRASES = {
    "top left": ["at the top left", "in the top left corner", "in the upper left"],
    "top centre": ["at the top", "at the top centre", "at the top center"],
    "top right": ["at the top right", "in the top right corner", "in the upper right"],
    "middle left": ["on the left", "at the left", "at the middle left"],
    "middle centre": ["in the centre", "in the center", "in the middle"],
    "middle right": ["on the right", "at the right", "at the middle right"],
    "bottom left": ["at the bottom left", "in the bottom left corner", "in the lower left"],
    "bottom centre": ["at the bottom", "at the bottom centre", "at the bottom center"],
    "bottom right": ["at the bottom right", "in the bottom right corner", "in the lower right"],
}
BACKGROUND_PHRASES = {
    "dark": ["on a dark background", "on black", "against a dark background"],
    "light": ["on a light background", "on white", "against a pale background"],
}


@dataclass(frozen=True)
class Caption:
    text: str
    attributes: Dict[str, str]  # only the attributes the caption names

    @property
    def specificity(self) -> int:
        return len(self.attributes)

    def matches(self, scene: Scene) -> bool:
        return all(getattr(scene, k) == v for k, v in self.attributes.items())


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def caption_for(scene: Scene, named: List[str], rng: random.Random) -> Caption:
    """Writes a caption naming exactly the attributes in `named`, with synonyms and varied order."""
    named_set = set(named)
    noun = rng.choice(SHAPE_WORDS[scene.shape]) if "shape" in named_set else rng.choice(GENERIC_NOUNS)
    adjectives = []
    if "size" in named_set:
        adjectives.append(rng.choice(SIZE_WORDS[scene.size]))
    colour_word = rng.choice(COLOUR_WORDS[scene.colour]) if "colour" in named_set else None
    colour_after = colour_word is not None and rng.random() < 0.2
    if colour_word is not None and not colour_after:
        adjectives.append(colour_word)
    phrase = " ".join(adjectives + [noun])
    phrase = f"{_article(phrase)} {phrase}"
    if colour_after:
        phrase = f"{phrase} that is {colour_word}"
    pos = rng.choice(POSITION_PHRASES[scene.position]) if "position" in named_set else None
    bg = rng.choice(BACKGROUND_PHRASES[scene.background]) if "background" in named_set else None

    order = rng.randrange(4)
    if order == 0 or (pos is None and bg is None):
        parts = [phrase] + [p for p in (pos, bg) if p]
    elif order == 1:
        parts = [phrase] + [p for p in (bg, pos) if p]
    elif order == 2 and pos is not None:
        parts = [pos + ",", phrase] + ([bg] if bg else [])
    else:
        parts = ["there is", phrase] + [p for p in (pos, bg) if p]
    text = " ".join(parts)
    return Caption(text=text, attributes={a: getattr(scene, a) for a in ATTRIBUTES if a in named_set})


def random_caption(scene: Scene, rng: random.Random, full_probability: float = 0.0) -> Caption:
    """A caption of random specificity: each count of named attributes 0..5 equally likely."""
    if rng.random() < full_probability:
        count = len(ATTRIBUTES)
    else:
        count = rng.randint(0, len(ATTRIBUTES))
    named = rng.sample(ATTRIBUTES, count)
    return caption_for(scene, named, rng)


def full_caption(scene: Scene, rng: random.Random) -> Caption:
    return caption_for(scene, list(ATTRIBUTES), rng)


def make_split(name: str, count: int) -> List[Scene]:
    rng = random.Random(SPLIT_SEEDS[name] * 1_000_003)
    return [sample_scene(rng) for _ in range(count)]


def render_all(scenes: List[Scene]) -> np.ndarray:
    return np.stack([render(s) for s in scenes])


def scene_to_dict(scene: Scene) -> Dict:
    return asdict(scene)


def caption_corpus(scenes: List[Scene], per_scene: int, seed: int) -> List[str]:
    """Caption texts for tokenizer learning: every specificity, every synonym eventually."""
    rng = random.Random(seed)
    return [random_caption(s, rng).text for s in scenes for _ in range(per_scene)]
