"""Grasp instructions at two levels (DextER supp. 6.3): physical and functional.

* **physical** (level 1): one sentence that starts with an action verb and says how the hand
  holds the object: which part, which fingers, what kind of grasp;
* **functional** (level 2): one sentence that starts with a verb of purpose (pour, carry,
  hand over, ...) and never mentions fingers or links.

Two annotators share one output type, :class:`GraspInstructions`:

* :class:`TemplateAnnotator` (offline default): phrase templates filled from the object
  category, the grasped part, the grasp type and the fingers in contact, with varied wording
  chosen by a seeded random generator (same inputs + seed -> same sentences);
* :class:`VLMAnnotator`: renders several views of the hand-object configuration (MuJoCo,
  offscreen) and asks any VLM client with ``chat(messages) -> str`` (``dexgrasp.vlm``: one
  client can serve the whole library); the JSON answer is parsed leniently (code fences,
  prose around the JSON, key spellings, string-or-list values) and validated. A template
  fallback can stand in when an answer is unusable.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dexgrasp.grasps.conventions import LINK_NAMES

LEVELS = ("physical", "functional")
FINGER_ORDER = ("thumb", "index", "middle", "ring", "little", "palm")
_FINGER_OF_PREFIX = {"th": "thumb", "ff": "index", "mf": "middle", "rf": "ring", "lf": "little"}


class AnnotationError(ValueError):
    """A VLM answer could not be turned into instructions; ``raw`` keeps the answer."""

    def __init__(self, message: str, raw: str = "") -> None:
        super().__init__(message)
        self.raw = raw


@dataclass
class GraspInstructions:
    """Instructions for one grasp, plus what the annotator inferred."""

    physical: list[str]
    functional: list[str]
    category: str = ""
    parts: list[str] = field(default_factory=list)
    source: str = "template"  # "template" | "vlm" | "template-fallback"

    def to_dict(self) -> dict[str, list[str]]:
        return {"physical": list(self.physical), "functional": list(self.functional)}


def fingers_of_links(links: Sequence[str]) -> list[str]:
    """Fingers (and palm) touched by contact links, in FINGER_ORDER: ['thumb', 'index', ...]."""
    found = set()
    for link in links:
        if link not in LINK_NAMES:
            raise ValueError(f"unknown contact link {link!r}; expected one of LINK_NAMES")
        found.add("palm" if link == "rh_palm" else _FINGER_OF_PREFIX[link[3:5]])
    return [f for f in FINGER_ORDER if f in found]


def describe_fingers(fingers: Sequence[str]) -> str:
    """Natural phrase for a finger set: 'thumb and index finger', 'whole hand', ..."""
    digits = [f for f in FINGER_ORDER if f in fingers and f != "palm"]
    palm = "palm" in fingers
    others = [d for d in digits if d != "thumb"]
    if len(digits) == 5:
        return "whole hand" if palm else "thumb and all four fingers"
    if not digits:
        return "palm" if palm else "hand"
    if len(others) == 4:
        text = "four fingers"
    elif len(others) == 1:
        text = f"{others[0]} finger"
    elif others:
        text = ", ".join(others[:-1]) + f" and {others[-1]} fingers"
    else:
        text = ""
    if "thumb" in digits:
        joiner = ", " if len(others) > 1 and len(others) < 4 else " and "
        text = "thumb" + (joiner + text if text else "")
    if not palm:
        return text
    return text + (", with the palm" if " and " in text else " and palm")


# --- template vocabulary ---------------------------------------------------------------------
GRASP_STYLE = {  # grasp type -> (how to name it, physical verbs)
    "medium_wrap": (("wrap grasp", "power grasp", "firm wrap"), ("Hold", "Grip", "Grasp")),
    "power_sphere": (("spherical power grasp", "full-hand grasp"), ("Hold", "Grab", "Grasp")),
    "tip_pinch": (("fingertip pinch", "precision pinch"), ("Pinch", "Pick up", "Take")),
    "tripod": (("three-finger tripod grasp", "tripod grip"), ("Pick up", "Hold", "Take")),
    "precision_sphere": (
        ("spherical fingertip grasp", "precision grasp"),
        ("Pick up", "Hold", "Cup"),
    ),
    "lateral": (("lateral key grip", "side pinch"), ("Pinch", "Hold", "Clamp")),
    "hook": (("hook grasp", "hooked grip"), ("Hook", "Carry", "Hold")),
}
DEFAULT_STYLE = (("grasp",), ("Hold", "Grasp", "Pick up"))

# (category, part) or (None, part) or (category, None) -> purposes (verb-first clauses).
PURPOSES: dict[tuple[str | None, str | None], tuple[str, ...]] = {
    ("mug", "handle"): (
        "pour the drink from the {obj}",
        "drink from the {obj}",
        "carry the full {obj} without spilling",
    ),
    ("pitcher", "handle"): ("pour water from the {obj}", "carry the {obj} to the table"),
    ("teapot", "handle"): ("pour tea from the {obj}", "serve tea with the {obj}"),
    ("pan", "handle"): ("move the {obj} off the stove", "toss the food in the {obj}"),
    ("knife", "handle"): ("cut food with the {obj}", "slice bread with the {obj}"),
    ("knife", "blade"): ("hand the {obj} safely to another person, handle first",),
    ("scissors", "handle"): ("cut paper with the {obj}",),
    ("scissors", "blade"): ("pass the {obj} safely to someone",),
    ("hammer", "handle"): ("drive a nail with the {obj}", "swing the {obj}"),
    ("screwdriver", "handle"): ("turn a screw with the {obj}", "tighten a screw with the {obj}"),
    ("spatula", "handle"): ("flip food with the {obj}", "stir with the {obj}"),
    ("drill", "handle"): ("drill a hole with the {obj}", "operate the {obj}"),
    ("spray_bottle", "trigger"): ("spray liquid with the {obj}",),
    ("spray_bottle", "neck"): ("spray cleaner on the surface with the {obj}",),
    ("flashlight", "body"): ("shine light with the {obj}", "point the {obj} at the dark corner"),
    ("remote", "body"): ("change the channel with the {obj}", "point the {obj} at the TV"),
    ("phone", "body"): ("take a call with the {obj}", "read the screen of the {obj}"),
    ("wine_glass", "stem"): ("drink from the {obj}", "raise the {obj} for a toast"),
    ("bottle", "cap"): ("twist open the {obj}",),
    ("jar", "lid"): ("unscrew the lid of the {obj}", "open the {obj}"),
    ("can", "lid"): ("open the {obj}",),
    ("box", "lid"): ("open the {obj}",),
    ("bottle", "body"): ("pour from the {obj}", "shake the {obj}"),
    ("cup", "body"): ("drink from the {obj}",),
    ("bowl", "rim"): ("carry the {obj} steadily across the table",),
    ("apple", None): ("take a bite of the {obj}", "put the {obj} in the basket"),
    ("pear", None): ("put the {obj} in the fruit bowl",),
    ("banana", None): ("peel the {obj}", "put the {obj} in the basket"),
    (None, "handle"): ("use the {obj}", "carry the {obj} by its handle"),
    (None, "rim"): ("lift the {obj}",),
}
GENERIC_PURPOSES = (
    "lift the {obj} off the table", "hand the {obj} over to someone",
    "move the {obj} to another place", "put the {obj} away",
)  # fmt: skip

PHYSICAL_TEMPLATES = (
    "{verb} the {obj} by its {part} with your {fingers}.",
    "{verb} the {part} of the {obj} using your {fingers}.",
    "Use a {style} on the {part} of the {obj}, touching it with your {fingers}.",
    "{verb} the {obj} with a {style}, your {fingers} on its {part}.",
)
OPPOSED_TEMPLATES = (
    "{verb} the {obj} by its {part}, pressing the thumb against {others}.",
    "{verb} the {part} of the {obj} between your thumb and {others}.",
)
FUNCTIONAL_TEMPLATES = (
    "{Purpose}.",
    "{Purpose} with this grasp.",
    "{Purpose}, holding it this way.",
)


def _stable_seed(*keys: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, keys)).encode()).digest()[:8], "little")


def _object_name(category: str) -> str:
    return category.replace("_", " ").strip() or "object"


class TemplateAnnotator:
    """Offline instruction generator (see module docstring). ``seed`` varies the wording."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def annotate(self, category: str, part: str, grasp_type: str | None, contact_links: Sequence[str],
                 n: int = 1, key: object = "") -> GraspInstructions:  # fmt: skip
        """``n`` physical and ``n`` functional sentences for one grasp.

        Args:
            category: object category (``mug``); part: grasped part (``handle``);
            grasp_type: taxonomy name (``medium_wrap``) or None; contact_links: DextER link
            names in contact; key: anything identifying the grasp (varies the wording).
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        rng = np.random.default_rng(_stable_seed(self.seed, category, part, grasp_type, key))
        obj = _object_name(category)
        part_name = (part or "body").replace("_", " ")
        fingers = fingers_of_links(contact_links)
        styles, verbs = GRASP_STYLE.get(grasp_type or "", DEFAULT_STYLE)
        if grasp_type and grasp_type not in GRASP_STYLE:  # e.g. a Dexonomy taxonomy name
            styles = (grasp_type.replace("_", " ").lower() + " grasp",)
        physical, functional = [], []
        digits = [f for f in fingers if f not in ("palm", "thumb")]
        purposes = (PURPOSES.get((category, part)) or PURPOSES.get((category, None))
                    or PURPOSES.get((None, part)) or GENERIC_PURPOSES)  # fmt: skip
        for _ in range(n):
            for _try in range(8):  # draw again when a sentence repeats
                fill = {"verb": verbs[rng.integers(len(verbs))], "obj": obj, "part": part_name,
                        "style": styles[rng.integers(len(styles))], "fingers": describe_fingers(fingers)}  # fmt: skip
                templates = PHYSICAL_TEMPLATES
                if "thumb" in fingers and digits and rng.random() < 0.5:
                    templates = OPPOSED_TEMPLATES
                    fill["others"] = "the " + describe_fingers(digits)
                sentence = templates[rng.integers(len(templates))].format(**fill)
                if sentence not in physical:
                    break
            physical.append(sentence)
            for _try in range(8):
                purpose = purposes[rng.integers(len(purposes))].format(obj=obj)
                tmpl = FUNCTIONAL_TEMPLATES[rng.integers(len(FUNCTIONAL_TEMPLATES))]
                sentence = tmpl.format(Purpose=purpose[0].upper() + purpose[1:], purpose=purpose)
                if sentence not in functional:
                    break
            functional.append(sentence)
        return GraspInstructions(physical, functional, category, [part_name], "template")


# --- VLM annotator ---------------------------------------------------------------------------
SYSTEM_PROMPT = """You write grasp instructions for a robot hand dataset.
You see several rendered views of one object held by a right Shadow Hand, the list of hand
links that touch the object, and possibly an object identifier.
Hand links: palm = rh_palm; index = rh_ffproximal/rh_ffmiddle/rh_ffdistal; middle = rh_mf*;
ring = rh_rf*; little = rh_lfmetacarpal/rh_lf*; thumb = rh_thbase/rh_thproximal/rh_thmiddle/
rh_thdistal. Proximal is the segment next to the palm, distal the fingertip.
Steps:
1. Name the object's category (derive it from the identifier when one is given).
2. Name the functional part(s) being touched (handle, rim, body, lid, cap, neck, trigger, ...).
3. Write LEVEL-1 physical instructions: one sentence each, starting with an action verb
   (hold, grip, pinch, grasp, lift, ...), naming the object, the part and how the fingers hold it.
4. Write LEVEL-2 functional instructions: one sentence each, starting with a verb of purpose
   (pour, carry, hand over, open, cut, ...); describe the purpose only, never fingers or links.
Answer with JSON only:
{"category": "...", "parts": ["..."], "physical": ["..."], "functional": ["..."]}"""

USER_PROMPT = """These are {n_views} rendered views of an object grasped by the hand.
Links in contact with the object: {links}.
Object identifier: {object_id}.
Give {n} level-1 (physical) and {n} level-2 (functional) instructions as JSON."""

_KEY_ALIASES = {
    "physical": ("physical", "level1", "level_1", "level-1", "low_level", "physical_instructions"),
    "functional": ("functional", "level2", "level_2", "level-2", "high_level", "functional_instructions"),
}  # fmt: skip


def _normalise_key(k: str) -> str:
    return (
        re.sub(r"[\s\-]+", "_", k.strip().lower())
        .replace("level_1", "level1")
        .replace("level_2", "level2")
    )


def parse_vlm_answer(text: str, n: int | None = None) -> GraspInstructions:
    """Parse a VLM's JSON answer into :class:`GraspInstructions` (lenient, then validated).

    Accepts code fences and prose around one JSON object, key spellings such as ``Level-1`` or
    ``low_level``, and a string where a list is expected. Raises :class:`AnnotationError`.
    """
    if not isinstance(text, str) or not text.strip():
        raise AnnotationError("empty answer", str(text))
    body = re.sub(r"```(?:json)?", "", text)
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise AnnotationError("no JSON object in the answer", text)
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as err:
        raise AnnotationError(f"invalid JSON in the answer: {err}", text) from None
    if not isinstance(data, dict):
        raise AnnotationError("the JSON answer is not an object", text)
    norm = {_normalise_key(k): v for k, v in data.items()}
    out: dict[str, list[str]] = {}
    for level, aliases in _KEY_ALIASES.items():
        value = next((norm[a] for a in map(_normalise_key, aliases) if a in norm), None)
        if value is None:
            raise AnnotationError(f"answer lacks the {level} instructions", text)
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise AnnotationError(f"{level} instructions must be a list of strings", text)
        sentences = [s.strip() for s in items if isinstance(s, str) and s.strip()]
        if not sentences:
            raise AnnotationError(f"no usable {level} instruction in the answer", text)
        out[level] = sentences[:n] if n else sentences
    parts = norm.get("parts", norm.get("part", []))
    parts = [parts] if isinstance(parts, str) else [str(p) for p in parts if isinstance(p, str)]
    category = norm.get("category", "")
    return GraspInstructions(out["physical"], out["functional"],
                             category if isinstance(category, str) else "", parts, "vlm")  # fmt: skip


class VLMAnnotator:
    """Instructions from a vision-language model, given rendered views of each grasp.

    Args:
        client: any object with ``chat(messages, max_tokens=, temperature=) -> str``
            (e.g. ``dexgrasp.vlm.OpenAICompatibleClient``); reuse one for the whole library.
        render: ``render(obj, grasp, contacts) -> list of (H, W, 3) uint8`` views; default
            :func:`render_grasp_views` with ``n_views`` cameras.
        fallback: annotator used when an answer is unusable (None: raise AnnotationError).
    """

    def __init__(self, client, render: Callable | None = None, n_views: int = 5, n: int = 1,
                 fallback: TemplateAnnotator | None = None, max_tokens: int = 512) -> None:  # fmt: skip
        if not hasattr(client, "chat"):
            raise TypeError("client must have a chat(messages) method (see dexgrasp.vlm)")
        if n_views < 1 or n < 1:
            raise ValueError(f"n_views and n must be >= 1, got {n_views}, {n}")
        self.client, self.n_views, self.n = client, n_views, n
        self.render = render or (
            lambda obj, grasp, contacts: render_grasp_views(obj, grasp, n_views, contacts=contacts)
        )
        self.fallback, self.max_tokens = fallback, max_tokens

    def messages(
        self, images: Sequence[np.ndarray], contact_links: Sequence[str], object_id: str
    ) -> list:
        """The chat for one grasp: system prompt, then views and the question."""
        from dexgrasp.vlm import Message

        text = USER_PROMPT.format(n_views=len(images), links=", ".join(contact_links) or "none",
                                  object_id=object_id or "unknown", n=self.n)  # fmt: skip
        return [Message.system(SYSTEM_PROMPT), Message.user(*images, text)]

    def annotate(self, obj, grasp: np.ndarray, contacts: dict[str, np.ndarray] | Sequence[str],
                 part: str = "", grasp_type: str | None = None) -> GraspInstructions:  # fmt: skip
        """Render, ask, parse for one grasp.

        Args:
            obj: a GraspObject (its id goes in the prompt); grasp: (28,);
            contacts: link -> (k, 3) contact positions (drawn in the views), or just links.
        """
        if isinstance(contacts, dict):
            contact_links = [link for link in LINK_NAMES if link in contacts]
            images = self.render(obj, grasp, contacts)
        else:
            contact_links = list(contacts)
            images = self.render(obj, grasp, None)
        answer = self.client.chat(self.messages(images, contact_links, obj.object_id),
                                  max_tokens=self.max_tokens, temperature=0.0)  # fmt: skip
        try:
            return parse_vlm_answer(answer, self.n)
        except AnnotationError:
            if self.fallback is None:
                raise
            out = self.fallback.annotate(
                obj.category, part, grasp_type, contact_links, self.n, obj.object_id
            )
            out.source = "template-fallback"
            return out


def render_grasp_views(obj, grasp: np.ndarray, n_views: int = 5, width: int = 320, height: int = 240,
                       contacts: dict[str, np.ndarray] | None = None) -> list[np.ndarray]:  # fmt: skip
    """``n_views`` offscreen views (H, W, 3) uint8 of the hand holding ``obj`` at ``grasp``.

    Cameras circle the object at evenly spaced azimuths (:func:`dexgrasp.grasps.render.render_grasp`);
    contacts, when given, are drawn as finger-coloured spheres. Headless: ``MUJOCO_GL=egl``.
    """
    from dexgrasp.grasps.render import render_grasp

    strip = render_grasp(obj, np.asarray(grasp, dtype=np.float64), contacts, width=width,
                         height=height, views=n_views)  # fmt: skip
    return [np.ascontiguousarray(strip[:, k * width : (k + 1) * width]) for k in range(n_views)]


def annotate_dataset(
    root, annotator, n: int = 1, limit: int | None = None, progress: bool = False
) -> dict:
    """Add instructions to every grasp of a dataset directory, object by object (resumable).

    New sentences are appended with ``"annotator": "template"|"vlm"`` (existing ones are
    kept); grasps that already carry sentences from this annotator are skipped, and each
    object's grasps file is replaced atomically, so an interrupted run loses nothing.

    Args:
        root: dataset directory (``grasps/dataset.py`` layout).
        annotator: a :class:`TemplateAnnotator` or :class:`VLMAnnotator` (one VLM client is
            shared by every request).
        n: sentences per level for the template annotator (a VLMAnnotator has its own ``n``).
        limit: annotate at most this many grasps (e.g. to try a paid endpoint).
    Returns:
        Counts: ``annotated``, ``skipped`` (already done), ``failed`` (unusable VLM answers
        or objects that cannot be rendered).
    """
    from dexgrasp.grasps.dataset import GraspDataset, GraspDatasetWriter

    ds = GraspDataset.open(root)
    writer = GraspDatasetWriter(ds.root)
    kind = "vlm" if isinstance(annotator, VLMAnnotator) else "template"
    by_obj: dict[str, list] = {}
    for rec in ds:
        by_obj.setdefault(rec.object_id, []).append(rec)
    counts = {"annotated": 0, "skipped": 0, "failed": 0}
    items = by_obj.items()
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc=f"annotate ({kind})", unit="object")
    for oid, recs in items:
        entry = ds.objects[oid]
        obj = None
        changed = False
        for k, rec in enumerate(recs):
            if any(i.get("annotator") == kind for i in rec.instructions):
                counts["skipped"] += 1
                continue
            if limit is not None and counts["annotated"] >= limit:
                break
            try:
                if kind == "vlm":
                    if obj is None:
                        obj = entry.grasp_object()
                    out = annotator.annotate(obj, rec.grasp, rec.contacts or list(rec.contact_links),
                                             rec.part, rec.grasp_type or None)  # fmt: skip
                else:
                    out = annotator.annotate(entry.category, rec.part, rec.grasp_type or None,
                                             list(rec.contact_links), n=n, key=f"{oid}/{k}")  # fmt: skip
            except (AnnotationError, ValueError) as err:
                counts["failed"] += 1
                rec.meta.setdefault("annotation_errors", []).append(f"{kind}: {err}"[:300])
                changed = True
                continue
            rec.instructions = list(rec.instructions) + [
                {"level": lvl, "text": t, "annotator": kind}
                for lvl in LEVELS
                for t in getattr(out, lvl)
            ]
            counts["annotated"] += 1
            changed = True
        if changed:
            writer.add_grasps(oid, recs)
    return counts
