"""Prompts of the four planner sub-tasks, in this project's own words.

They ask for what the paper's prompts ask for (App. A.1): a target chosen with the
right -> centre -> left and unblocked-first preferences, exactly one object, strict JSON with
``bbox_2d`` / ``label`` / ``description``, and a short reasoning followed by a boolean.
Placeholders are filled with :func:`str.format`; image positions are marked in the
:class:`~dexgrasp.vlm.types.Message` parts, not in the text.
"""

from __future__ import annotations

SYSTEM = (
    "You are the task planner of a robot with one arm and a five-fingered hand that picks "
    "objects up from a table. Answer exactly in the format each request asks for."
)

PROPOSE_INSTRUCTION = """The user asked the robot: "{prompt}".

First image: the table before the robot did anything. Second image: the table now.

Decide which single object the robot should pick up next so that the request gets done.
Name objects from everyday knowledge (cup, bottle, can, fruit, snack bag, box, toy, tool, ...).
Rules for choosing, most important first:
1. Only objects that the request is about.
2. Prefer an object that is free-standing: not blocked by, leaning on or surrounded by others,
   and whose removal will not knock anything over.
3. Among those, prefer the robot's right side of the image, then the middle, then the left.

Reply with ONE short English sentence that names exactly one object by its colour, its shape or
kind, and where it is (for example "on the right", "in front of the red box").
Example reply: Grasp the yellow banana on the right side of the table."""

PREDICT_BOX = """Find the object this grasping instruction refers to and mark it.

Instruction: "{instruction}"

The image is {width} pixels wide and {height} pixels high. Choose exactly ONE visible object
that best fits the instruction; if nothing fits, do not invent one. Reply with strict JSON only:
{{"bbox_2d": [x1, y1, x2, y2], "label": "<2-4 word name>", "description": "<one sentence on its look and position>"}}
where x1, y1 is the top-left and x2, y2 the bottom-right corner in integer pixel coordinates
inside the image."""

VERIFY_GRASP = """Grasping instruction: "{instruction}"

First image: the head camera looking down at the table. Second image: the camera on the
robot's wrist, looking at the hand.

Has the robot picked up the target object and is it holding it securely? Consider whether the
object is still lying on the table and whether it sits firmly in the hand.

Reply with one or two sentences of reasoning, then a last line "Output: True" (grasped) or
"Output: False" (not grasped)."""

CHECK_COMPLETION = """The robot is working on this request: "{prompt}".

First image: the table before the robot did anything. Second image: the table now.

Compare the two images and decide whether the request is completely done. Only count real
objects on the table. Done means every object the request is about has been picked up or
removed; if any such object is still on the table, it is not done.

Reply with a short reasoning, then a last line "Output: True" (done) or "Output: False"
(not done). Example: "The two bottles are gone from the table. Output: True"."""

RETRY_HINT = (
    "\n\nYour previous reply could not be used ({reason}). Reply again, exactly in the "
    "requested format."
)
