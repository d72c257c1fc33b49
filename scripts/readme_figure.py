"""Render the README's scene figure: the default scene, its wrist view, target mask and two
of the paper's unseen conditions. Writes docs/images/scene.png.

    MUJOCO_GL=egl python scripts/readme_figure.py
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym  # noqa: E402

import dexgrasp.sim  # noqa: E402,F401  (registers the env)
from dexgrasp.constants import OBS_HEAD, OBS_MASK, OBS_WRIST  # noqa: E402
from dexgrasp.viz.images import overlay_mask, save_png, tile  # noqa: E402

SEED = 3


def main() -> None:
    env = gym.make("dexgrasp/TabletopGrasp-v0", split="train", image_size=(320, 320))
    obs, info = env.reset(seed=SEED, options={"scene_seed": SEED})
    target = env.unwrapped.target_name
    images = [obs[OBS_HEAD], obs[OBS_WRIST], overlay_mask(obs[OBS_HEAD], obs[OBS_MASK])]
    labels = ["head camera (collection room)", "wrist camera", f"target mask: {target}"]
    for option in ({"background": "calibration_board"}, {"lighting": "disco"}):
        obs, _ = env.reset(seed=SEED, options={"scene_seed": SEED, "room": "evaluation", **option})
        images.append(obs[OBS_HEAD])
        labels.append("evaluation room, " + ", ".join(f"{k} {v}" for k, v in option.items()))
    env.close()
    path = save_png("docs/images/scene.png", tile(images, ncols=3, labels=labels))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
