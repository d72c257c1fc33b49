"""What a user prompt or a grasping instruction refers to, in terms of object attributes.

Used by the oracle planner. A prompt becomes a :class:`TargetSpec` (colours, nouns, groups
such as food/drink, "everything", one object or all of them, a preferred side); an object
matches when it satisfies every kind of constraint given (colours AND nouns AND groups), any
value within a kind ("red and blue objects", "bottles and cans").

    >>> spec = parse_prompt("grasp all green objects")
    >>> spec.colors, spec.quantifier
    (frozenset({'green'}), 'all')
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

COLOR_WORDS = {
    "red": "red",
    "green": "green",
    "blue": "blue",
    "yellow": "yellow",
    "orange": "orange",
    "purple": "purple",
    "violet": "purple",
    "pink": "pink",
    "white": "white",
    "black": "black",
    "brown": "brown",
    "gray": "gray",
    "grey": "gray",
    "cyan": "cyan",
    "turquoise": "cyan",
}
# Group words -> attribute tags an object must carry (any of them).
GROUP_WORDS = {
    "food": {"food"},
    "foods": {"food"},
    "foodstuff": {"food"},
    "grocery": {"food", "drink"},
    "groceries": {"food", "drink"},
    "edible": {"food", "drink"},
    "edibles": {"food", "drink"},
    "eatable": {"food"},
    "drink": {"drink"},
    "drinks": {"drink"},
    "beverage": {"drink"},
    "beverages": {"drink"},
}
# Words that stand for "any object".
GENERIC_WORDS = {"object", "objects", "thing", "things", "item", "items", "one", "ones", "stuff"}
EVERYTHING_PHRASES = ("clear the table", "clean the table", "clear the desk", "tidy the table")
EVERYTHING_WORDS = {"everything", "anything"}
ALL_WORDS = {"all", "every", "each", "everything", "clear", "both", "any"}
# Synonyms of nouns the object library uses.
NOUN_SYNONYMS = {
    "soda": "can",
    "tin": "can",
    "mug": "mug",
    "glass": "cup",
    "beaker": "cup",
    "packet": "bag",
    "pack": "bag",
    "chips": "chip",
    "crisps": "chip",
    "snacks": "snack",
    "fruits": "fruit",
    "toys": "toy",
    "tools": "tool",
    "block": "block",
    "cube": "block",
    "container": "jar",
}
SIDE_WORDS = {
    "right": "right",
    "left": "left",
    "middle": "center",
    "center": "center",
    "centre": "center",
}
STOP_WORDS = {
    "grasp", "grab", "pick", "up", "take", "get", "the", "a", "an", "all", "of", "on", "in",
    "and", "or", "to", "from", "table", "please", "every", "each", "side", "with", "next",
    "near", "that", "is", "are", "it", "them", "then", "remove", "clear", "front", "behind",
    "back", "robot", "hand", "its", "color", "colour", "colored", "coloured",
}  # fmt: skip


def singular(word: str) -> str:
    """English plural -> singular for object nouns (boxes -> box, cherries -> cherry)."""
    w = word.lower()
    irregular = {"knives": "knife", "leaves": "leaf", "glasses": "glass", "chips": "chip"}
    if w in irregular:
        return irregular[w]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith(("ches", "shes", "xes", "sses", "oes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us")):
        return w[:-1]
    return w


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


@dataclass(frozen=True)
class TargetSpec:
    """Which objects a prompt is about.

    quantifier: "all" (every matching object) or "one" (a single matching object).
    side: preferred side ("left", "right", "center") or "" when none is said.
    """

    colors: frozenset[str] = frozenset()
    nouns: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    everything: bool = False
    quantifier: str = "all"
    side: str = ""
    unknown: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_empty(self) -> bool:
        return not (self.colors or self.nouns or self.groups or self.everything)


def object_words(category: str, noun: str, name: str = "") -> set[str]:
    """Nouns an object answers to: its category, its noun and their head words."""
    words = set(tokens(category)) | set(tokens(noun))
    words |= {singular(w) for w in words}
    if name:
        words |= {singular(w) for w in tokens(name)} - set(COLOR_WORDS)
    return words


def parse_prompt(prompt: str, known_nouns: Iterable[str] = ()) -> TargetSpec:
    """Turn a user prompt ("grasp all food", "clear the table") into a :class:`TargetSpec`.

    ``known_nouns``: extra nouns of the scene's objects, so that names outside the built-in
    vocabulary ("stapler", "duck") are understood.
    """
    text = prompt.lower()
    toks = tokens(text)
    known = {singular(n) for n in known_nouns} | set(NOUN_SYNONYMS.values())
    colors: set[str] = set()
    nouns: set[str] = set()
    groups: set[str] = set()
    unknown: list[str] = []
    plural_seen = False
    everything = any(p in text for p in EVERYTHING_PHRASES) or bool(EVERYTHING_WORDS & set(toks))
    for i, tok in enumerate(toks):
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if tok in COLOR_WORDS:
            # "orange" is also a fruit: a colour only when it modifies a following noun.
            is_modifier = (
                nxt in GENERIC_WORDS
                or nxt in COLOR_WORDS
                or nxt == "and"
                or (singular(NOUN_SYNONYMS.get(nxt, nxt)) in known or nxt in GROUP_WORDS)
            )
            if tok == "orange" and not is_modifier:
                nouns.add("orange")
                continue
            colors.add(COLOR_WORDS[tok])
        elif tok in GROUP_WORDS:
            groups |= GROUP_WORDS[tok]
            plural_seen |= tok.endswith("s") or tok in ("food", "edible")
        elif tok in GENERIC_WORDS:
            plural_seen |= tok.endswith("s") or tok == "stuff"
        elif tok in SIDE_WORDS or tok in STOP_WORDS or tok in ALL_WORDS:
            continue
        else:
            base = singular(NOUN_SYNONYMS.get(tok, tok))
            base = NOUN_SYNONYMS.get(base, base)
            if base in known:
                nouns.add(base)
                plural_seen |= base != tok and tok.endswith("s")
            else:
                unknown.append(tok)
    side = next((SIDE_WORDS[t] for t in toks if t in SIDE_WORDS), "")
    quantifier = "all" if (everything or plural_seen or ALL_WORDS & set(toks)) else "one"
    return TargetSpec(
        colors=frozenset(colors),
        nouns=frozenset(nouns),
        groups=frozenset(groups),
        everything=everything and not (colors or nouns or groups),
        quantifier=quantifier,
        side=side,
        unknown=tuple(unknown),
    )


def matches(spec: TargetSpec, color: str, words: set[str], tags: set[str]) -> bool:
    """True when an object with main ``color``, nouns ``words`` and ``tags`` is targeted."""
    if spec.everything:
        return True
    if spec.is_empty:
        return False
    if spec.colors and color not in spec.colors:
        return False
    if spec.nouns and not (spec.nouns & words):
        return False
    return not (spec.groups and not (spec.groups & tags))
