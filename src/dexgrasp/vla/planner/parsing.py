"""Robust parsing of free-form VLM answers into boxes, booleans and instructions.

Every function either returns a value of the promised type or raises
:class:`~dexgrasp.vla.planner.types.PlannerParseError` carrying the raw answer; nothing else
escapes, whatever the input.

Boxes are found in code fences, JSON objects or lists (also with single quotes, trailing
commas or Python literals), or as four numbers in prose. Coordinates may be normalised
(0-1), Qwen2-VL style (0-1000) or pixels (optionally in a resized reference frame); they are
converted to pixels of the image, clamped to it, and empty or inverted boxes are rejected.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Literal

from dexgrasp.vla.planner.types import BoundingBox, PlannerParseError

CoordMode = Literal["auto", "pixel", "normalized", "qwen1000"]
COORD_MODES = ("auto", "pixel", "normalized", "qwen1000")
BOX_KEYS = ("bbox_2d", "bbox2d", "bbox", "box", "bounding_box", "boundingbox", "coordinates")
CORNER_KEYS = (
    ("x1", "y1", "x2", "y2"),
    ("xmin", "ymin", "xmax", "ymax"),
    ("left", "top", "right", "bottom"),
)
LABEL_KEYS = ("label", "name", "object")
DESCRIPTION_KEYS = ("description", "desc", "caption")
MAX_TEXT = 20_000  # longer answers are truncated before parsing (bounded work)

_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_FOUR = re.compile(
    rf"[\[(]\s*({_NUM})\s*[,;\s]\s*({_NUM})\s*[,;\s]\s*({_NUM})\s*[,;\s]\s*({_NUM})\s*[\])]"
)
_KEYED_FOUR = re.compile(
    rf"bbox(?:_?2d)?\W{{0,6}}({_NUM})\W{{1,4}}({_NUM})\W{{1,4}}({_NUM})\W{{1,4}}({_NUM})",
    re.IGNORECASE,
)


# --- numbers and coordinates ---------------------------------------------------------------
def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        f = float(v)
    elif isinstance(v, str):
        try:
            f = float(v.strip().rstrip("px").strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _four(values: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(values, list | tuple) or len(values) != 4:
        return None
    nums = [_number(v) for v in values]
    if any(n is None for n in nums):
        return None
    return tuple(nums)  # type: ignore[return-value]


def to_pixels(
    xyxy: tuple[float, float, float, float],
    image_size: tuple[int, int],
    coords: CoordMode = "auto",
    reference_size: tuple[int, int] | None = None,
) -> tuple[float, float, float, float]:
    """Convert box coordinates to pixels of an image of ``image_size = (W, H)``.

    ``reference_size`` (W, H) is the frame pixel answers refer to when the model saw a
    resized copy (Qwen2.5-VL answers in the pixels of its resized input).
    """
    if coords not in COORD_MODES:
        raise ValueError(f"coords must be one of {COORD_MODES}, got {coords!r}")
    w, h = image_size
    x1, y1, x2, y2 = xyxy
    mode = coords
    if mode == "auto":
        ref_w, ref_h = reference_size or image_size
        if max(abs(v) for v in xyxy) <= 1.0:
            mode = "normalized"
        elif (
            min(xyxy) >= 0.0
            and max(xyxy) <= 1000.0
            and (max(x1, x2) > 1.1 * ref_w or max(y1, y2) > 1.1 * ref_h)
        ):
            mode = "qwen1000"  # well beyond the pixel frame: a 0-1000 grid (Qwen2-VL)
        else:
            mode = "pixel"
    if mode == "normalized":
        return (x1 * w, y1 * h, x2 * w, y2 * h)
    if mode == "qwen1000":
        return (x1 * w / 1000.0, y1 * h / 1000.0, x2 * w / 1000.0, y2 * h / 1000.0)
    if reference_size is not None:
        sx, sy = w / reference_size[0], h / reference_size[1]
        return (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
    return xyxy


def make_box(
    xyxy: tuple[float, float, float, float],
    image_size: tuple[int, int],
    *,
    coords: CoordMode = "auto",
    reference_size: tuple[int, int] | None = None,
    min_size_px: int = 2,
    label: str = "",
    description: str = "",
) -> BoundingBox:
    """Pixels, clamped to the image; raises PlannerParseError on empty or inverted boxes."""
    w, h = image_size
    x1, y1, x2, y2 = to_pixels(xyxy, image_size, coords, reference_size)
    if x2 <= x1 or y2 <= y1:
        raise PlannerParseError(f"inverted or empty box {list(xyxy)} (need x1 < x2 and y1 < y2)")
    cx1, cy1 = min(max(x1, 0.0), w), min(max(y1, 0.0), h)
    cx2, cy2 = min(max(x2, 0.0), w), min(max(y2, 0.0), h)
    ix1, iy1, ix2, iy2 = math.floor(cx1), math.floor(cy1), math.ceil(cx2), math.ceil(cy2)
    ix2, iy2 = min(ix2, w), min(iy2, h)
    if ix2 - ix1 < min_size_px or iy2 - iy1 < min_size_px:
        raise PlannerParseError(
            f"box {list(xyxy)} is smaller than {min_size_px} px inside the {w}x{h} image"
        )
    return BoundingBox(ix1, iy1, ix2, iy2, label=label[:200], description=description[:1000])


# --- structured candidates -----------------------------------------------------------------
def _lenient_json(text: str) -> Any:
    """json.loads, then a second try with Python literals, single quotes and trailing commas."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", text)
    fixed = re.sub(r"\bTrue\b", "true", fixed)
    fixed = re.sub(r"\bFalse\b", "false", fixed)
    fixed = re.sub(r"\bNone\b", "null", fixed)
    if '"' not in fixed:
        fixed = fixed.replace("'", '"')
    try:
        return json.loads(fixed)
    except (json.JSONDecodeError, RecursionError):
        return None


def _json_values(text: str) -> Iterator[Any]:
    """Every JSON object or list found in ``text``, outermost first, left to right."""
    i, n, seen = 0, len(text), 0
    while i < n and seen < 50:
        if text[i] in "{[":
            close = "}" if text[i] == "{" else "]"
            depth, j = 0, i
            while j < n:
                c = text[j]
                if c in "{[":
                    depth += 1
                elif c in "}]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < n and text[j] == close:
                value = _lenient_json(text[i : j + 1])
                if value is not None:
                    seen += 1
                    yield value
                    i = j + 1
                    continue
        i += 1


def _text_field(d: dict[str, Any], keys: tuple[str, ...]) -> str:
    for k in keys:
        v = d.get(k)
        if isinstance(v, str):
            return v.strip()
    return ""


def _boxes_in(value: Any, depth: int = 0) -> Iterator[tuple[tuple[float, ...], str, str]]:
    """(xyxy, label, description) candidates inside a decoded JSON value."""
    if depth > 6:
        return
    if isinstance(value, dict):
        lower = {str(k).lower(): v for k, v in value.items()}
        label, desc = _text_field(lower, LABEL_KEYS), _text_field(lower, DESCRIPTION_KEYS)
        for key in BOX_KEYS:
            if key in lower:
                inner = lower[key]
                four = _four(inner)
                if four is not None:
                    yield four, label, desc
                elif isinstance(inner, dict):
                    for xyxy, _, _ in _boxes_in(inner, depth + 1):
                        yield xyxy, label, desc
        for names in CORNER_KEYS:
            if all(k in lower for k in names):
                four = _four([lower[k] for k in names])
                if four is not None:
                    yield four, label, desc
        for v in lower.values():
            if isinstance(v, dict | list):
                yield from _boxes_in(v, depth + 1)
    elif isinstance(value, list):
        four = _four(value)
        if four is not None:
            yield four, "", ""
            return
        for v in value[:20]:
            yield from _boxes_in(v, depth + 1)


def box_candidates(text: str) -> Iterator[tuple[tuple[float, ...], str, str]]:
    """All plausible boxes in an answer, most explicit first."""
    text = text[:MAX_TEXT]
    blocks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for block in blocks:
        for value in _json_values(block):
            yield from _boxes_in(value)
    for pattern in (_KEYED_FOUR, _FOUR):
        for m in pattern.finditer(text):
            nums = tuple(float(g) for g in m.groups())
            if all(math.isfinite(v) for v in nums):
                yield nums, "", ""


def parse_bbox(
    text: str,
    image_size: tuple[int, int],
    *,
    coords: CoordMode = "auto",
    reference_size: tuple[int, int] | None = None,
    min_size_px: int = 2,
) -> BoundingBox:
    """The first valid box in ``text``, in pixels of an image of ``image_size = (W, H)``.

    Raises PlannerParseError (with ``raw``) when no candidate gives a non-empty box.
    """
    if not isinstance(text, str):
        raise PlannerParseError(f"answer must be text, got {type(text).__name__}", raw=repr(text))
    w, h = image_size
    if w < 1 or h < 1:
        raise ValueError(f"image_size must be positive (W, H), got {image_size}")
    reasons: list[str] = []
    for n, (xyxy, label, desc) in enumerate(box_candidates(text)):
        if n >= 50:
            break
        try:
            return make_box(
                xyxy,  # type: ignore[arg-type]
                image_size,
                coords=coords,
                reference_size=reference_size,
                min_size_px=min_size_px,
                label=label,
                description=desc,
            )
        except PlannerParseError as err:
            reasons.append(str(err))
    why = reasons[-1] if reasons else "no [x1, y1, x2, y2] box found"
    raise PlannerParseError(f"could not read a box: {why}", raw=text)


# --- booleans ------------------------------------------------------------------------------
_BOOL = re.compile(r"(?<![\w=])(true|false)(?![\w]|\s*=)", re.IGNORECASE)
_MARKED = re.compile(
    r"(?:output|answer|result|conclusion|final answer|grasped|completed)\s*\**\s*[:=]\s*\**\s*"
    r"[^\n]*?(?<![\w=])(true|false)(?!\w|\s*=)",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*\s*(true|false)\s*\.?\s*\*\*", re.IGNORECASE)
_BARE_YES_NO = re.compile(r"^\W*(yes|no)\W*$", re.IGNORECASE)


def parse_bool(text: str) -> bool:
    """A True/False verdict from free text: an "Output:"-style line wins, then a bold
    **True**/**False**, then the last standalone True/False word. ``True=...`` echoes of the
    output format are ignored. A bare "yes"/"no" is accepted too."""
    if not isinstance(text, str):
        raise PlannerParseError(f"answer must be text, got {type(text).__name__}", raw=repr(text))
    body = text[:MAX_TEXT]
    for pattern in (_MARKED, _BOLD, _BOOL):
        matches = pattern.findall(body)
        if matches:
            return matches[-1].lower() == "true"
    m = _BARE_YES_NO.match(body)
    if m:
        return m.group(1).lower() == "yes"
    raise PlannerParseError("no True/False verdict in the answer", raw=text)


# --- instructions --------------------------------------------------------------------------
_LEADS = re.compile(r"^(?:instruction|answer|output|next|target)\s*[:\-]\s*", re.IGNORECASE)


def parse_instruction(text: str, max_chars: int = 300) -> str:
    """One grasping instruction: the first non-empty line, without markdown, quotes or a
    leading "Instruction:" label."""
    if not isinstance(text, str):
        raise PlannerParseError(f"answer must be text, got {type(text).__name__}", raw=repr(text))
    for line in text[:MAX_TEXT].splitlines():
        prev = None
        while line != prev:  # until stable: markup and any whitespace (e.g. "A\xa0#") interleave
            prev = line
            line = line.strip().strip("`*#>-•")
            line = _LEADS.sub("", line.strip()).strip().strip("\"'*`")
        if re.search(r"[A-Za-z]", line):
            return line[:max_chars].rstrip()
    raise PlannerParseError("empty instruction", raw=text)
