"""ChatML prompt text for DextER: system prompt and the meta-prompts that ask for contacts first.

The prompt layout (Qwen2.5 ChatML)::

    <|im_start|>system\\n{SYSTEM_PROMPT}<|im_end|>\\n
    <|im_start|>user\\n<|vision_start|><|vision_pad|> x M<|vision_end|>{meta} Query: {instruction}<|im_end|>\\n
    <|im_start|>assistant\\n

The assistant turn is written by :class:`dexgrasp.dexter.tokenizer.DexterTokenizer`.
Several phrasings are sampled during training so the model does not latch onto one wording.
"""

from __future__ import annotations

import random

SYSTEM_PROMPT = "You are a grasp planner for a five-fingered robot hand."

# Meta-prompts for the full model: reason about contacts, then write the grasp.
CONTACT_META_PROMPTS = (
    "First list which hand links touch the object and where, then give the grasp.",
    "Reason about contacts step by step: name each touching link with its position, "
    "then output the hand pose.",
    "Predict the contact links and contact points on the object, then the grasp configuration.",
    "Decide where each finger segment meets the surface before choosing the grasp.",
    "Start with the hand-object contacts (link and location), then produce the grasp pose.",
    "Which parts of the hand will touch the object, and at which points? "
    "Answer that first, then the grasp.",
    "Plan the contacts first: links and surface points. Then write the joint configuration.",
    "Think about the contact pattern of the hand on this object, then generate the grasp.",
)

# Meta-prompts for the action-only ablation ("without embodied reasoning").
ACTION_META_PROMPTS = (
    "Output the grasp pose for the hand.",
    "Give the hand configuration that performs this grasp.",
    "Generate the grasp directly.",
    "Write the palm pose and joint angles for this grasp.",
)

# Short word list used with the prompts to train the offline byte-level BPE tokenizer.
_EXTRA_WORDS = (
    "grasp hold pick lift pour open press use hand over handle body rim lid cap top bottom side "
    "edge neck base mug cup bottle bowl knife scissors hammer phone camera mouse bag box can jar "
    "spray kettle pan spoon fork toy game controller headphones with all five fingers thumb index "
    "middle ring little palm pinch power precision securely gently firmly from above the a an of "
    "to on at in and its by for sphere cylinder cube torus capsule ellipsoid"
)


def meta_prompts(action_only: bool) -> tuple[str, ...]:
    """The meta-prompt pool for the contacts-first model or the action-only ablation."""
    return ACTION_META_PROMPTS if action_only else CONTACT_META_PROMPTS


def pick_meta_prompt(action_only: bool, rng: random.Random | None = None) -> str:
    """One meta-prompt: random when ``rng`` is given (training), the first one otherwise."""
    pool = meta_prompts(action_only)
    return pool[0] if rng is None else rng.choice(pool)


def user_text(meta_prompt: str, instruction: str) -> str:
    """The text after the point tokens in the user turn."""
    return f"{meta_prompt} Query: {instruction.strip()}"


def tokenizer_corpus() -> list[str]:
    """Sentences for training the offline tokenizer (prompts plus common grasp words)."""
    lines = [SYSTEM_PROMPT, *CONTACT_META_PROMPTS, *ACTION_META_PROMPTS, _EXTRA_WORDS]
    lines += ["system\n", "user\n", "assistant\n", " Query: "]
    return lines * 4
