"""Parsing of planner answers: examples from the paper's transcripts and property tests."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dexgrasp.vla.planner.parsing import parse_bbox, parse_bool, parse_instruction, to_pixels
from dexgrasp.vla.planner.types import BoundingBox, PlannerParseError

SIZE = (640, 480)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '```json\n{\n  "bbox_2d": [357, 104, 486, 249],\n  "label": "green orange snack",\n'
            '  "description": "The snack bag on the right."\n}\n```',
            (357, 104, 486, 249),
        ),
        ('Sure! {"bbox_2d": [10, 20, 30, 40], "label": "cup"} Hope it helps.', (10, 20, 30, 40)),
        ("[{'bbox_2d': [10, 20, 30, 40], 'label': 'cup',}]", (10, 20, 30, 40)),
        ('{"box": {"x1": 10, "y1": 20, "x2": 30, "y2": 40}}', (10, 20, 30, 40)),
        ('{"bbox_2d": ["10", "20", "30px", 40.0]}', (10, 20, 30, 40)),
        ("The cup is at [0.5, 0.5, 0.75, 1.0].", (320, 240, 480, 480)),
        ("bbox_2d = (100, 100, 900, 1000)", (64, 48, 576, 480)),  # 0-1000 (beyond the image)
        ('{"bbox_2d": [-20, -5, 700, 470]}', (0, 0, 640, 470)),  # pixel-ish, clamped
        (
            '[{"label": "a"}, {"bbox_2d": [1, 2, 3, 4, 5]}, {"bbox_2d": [5, 6, 50, 60]}]',
            (5, 6, 50, 60),
        ),
    ],
)
def test_box_formats(text, expected):
    box = parse_bbox(text, SIZE, coords="auto")
    assert box.xyxy == expected
    assert box.inside(*SIZE)


def test_label_and_description_kept():
    box = parse_bbox('{"bbox_2d": [1, 2, 30, 40], "label": "red can", "description": "d"}', SIZE)
    assert (box.label, box.description) == ("red can", "d")


def test_reference_size_rescales_pixel_answers():
    # The model saw a 320x240 copy: its pixels are doubled in the 640x480 frame.
    box = parse_bbox("[10, 20, 30, 40]", SIZE, coords="pixel", reference_size=(320, 240))
    assert box.xyxy == (20, 40, 60, 80)


@pytest.mark.parametrize(
    "text",
    [
        '{"bbox_2d": [50, 50, 10, 10]}',  # inverted
        '{"bbox_2d": [50, 50, 50, 90]}',  # zero width
        '{"bbox_2d": [700, 500, 900, 600]}',  # 0-1000 reading still fine? no: see below
        "no box here",
        '{"bbox_2d": [1, 2, 3]}',
        '{"bbox_2d": [NaN, 2, 3, 4]}',
        "",
    ],
)
def test_bad_boxes_raise_with_raw(text):
    if "700, 500" in text:
        text = '{"bbox_2d": [1000, 1000, 1200, 1300]}'  # entirely outside the image
    with pytest.raises(PlannerParseError) as info:
        parse_bbox(text, SIZE)
    assert info.value.raw == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Output: False", False),
        ("**True**", True),
        ("The prompt is not completed because a bottle remains. False", False),
        ("The object is held in the hand.\nTrue", True),
        ("Reasoning (True=completed, False=not completed).\nOutput: True", True),
        ("\\*\\*Output:\\*\\* All edible objects have been removed or grasped: False.", False),
        ("All blue objects have been removed from the table: True.", True),
        ("Conclusion: true. (earlier I thought False)", True),
        ("yes", True),
        ("No.", False),
    ],
)
def test_booleans(text, expected):
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["", "maybe", "It is truly unclear", "no idea at all"])
def test_bool_without_verdict_raises(text):
    with pytest.raises(PlannerParseError):
        parse_bool(text)


def test_instruction_cleanup():
    assert parse_instruction('\n**Instruction:** "Grasp the red cup."\n') == "Grasp the red cup."
    assert parse_instruction("- Grasp the apple\nbecause...") == "Grasp the apple"
    with pytest.raises(PlannerParseError):
        parse_instruction("  \n ** \n")


def test_to_pixels_modes():
    assert to_pixels((0.5, 0.5, 1, 1), SIZE, "normalized") == (320, 240, 640, 480)
    assert to_pixels((500, 500, 1000, 1000), SIZE, "qwen1000") == (320, 240, 640, 480)
    with pytest.raises(ValueError, match="coords"):
        to_pixels((0, 0, 1, 1), SIZE, "percent")  # type: ignore[arg-type]


# --- property tests ------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(-3000, 3000),
    st.floats(-2000, 2000, allow_nan=False),
    st.floats(0, 1),
    st.sampled_from([float("nan"), float("inf"), -0.0, 1e308]),
)
four = st.lists(numbers, min_size=3, max_size=5)
junk = st.text(max_size=80)


@st.composite
def answers(draw) -> str:
    """Well-formed and malformed planner answers."""
    box = draw(four)
    kind = draw(st.integers(0, 9))
    label = draw(junk)
    if kind == 0:
        body = json.dumps({"bbox_2d": box, "label": label, "description": draw(junk)})
    elif kind == 1:
        body = "```json\n" + json.dumps([{"bbox_2d": box, "label": label}]) + "\n```"
    elif kind == 2:
        body = f"The object is at {box}. {label}"
    elif kind == 3:
        body = "(" + ", ".join(str(v) for v in box) + ")"
    elif kind == 4:
        body = str({"bbox": {"x1": box[0], "y1": box[1], "x2": box[-1], "y2": box[-2]}})
    elif kind == 5:  # truncated JSON
        full = json.dumps({"bbox_2d": box, "label": label})
        body = full[: draw(st.integers(0, len(full)))]
    elif kind == 6:
        body = draw(st.text(alphabet="{}[](),:\"' 0123456789.-eE\nbox_2dTruFalse*`", max_size=200))
    elif kind == 7:
        body = "{" * draw(st.integers(0, 300)) + "[" * draw(st.integers(0, 50))
    elif kind == 8:
        body = draw(st.text(max_size=300))
    else:
        body = json.dumps({"boxes": [{"bbox_2d": box}] * draw(st.integers(0, 3))})
    return draw(junk) + body + draw(junk)


sizes = st.tuples(st.integers(1, 2000), st.integers(1, 2000))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=answers(), size=sizes, coords=st.sampled_from(["auto", "pixel", "normalized", "qwen1000"])
)
def test_parse_bbox_never_crashes_and_stays_in_image(text, size, coords):
    try:
        box = parse_bbox(text, size, coords=coords, min_size_px=1)
    except PlannerParseError as err:
        assert err.raw == text
        return
    assert isinstance(box, BoundingBox)
    assert box.inside(*size), (box, size)
    assert box.x1 < box.x2 and box.y1 < box.y2


bool_texts = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda a, v, b: f"{a} {v} {b}",
        st.text(max_size=60),
        st.sampled_from(["True", "False", "**True**", "Output: False", "true.", "FALSE", "yes"]),
        st.text(max_size=60),
    ),
)


@settings(max_examples=2000, deadline=None)
@given(text=bool_texts)
def test_parse_bool_returns_bool_or_typed_error(text):
    try:
        value = parse_bool(text)
    except PlannerParseError as err:
        assert err.raw == text
        return
    assert isinstance(value, bool)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=300))
def test_parse_instruction_returns_text_or_typed_error(text):
    try:
        value = parse_instruction(text)
    except PlannerParseError:
        return
    assert isinstance(value, str) and value.strip() == value and value


def test_parse_instruction_strips_interleaved_markup_and_unicode_spaces():
    # found by hypothesis: a no-break space before trailing markup survived the stripping
    assert parse_instruction("A\xa0#") == "A"
    assert parse_instruction("x" * 299 + " y") == "x" * 299  # cut at 300, no trailing space
