"""Everything a run leaves on disk: ``events.jsonl`` (one JSON object per event),
``planner.jsonl`` plus ``planner/*.png`` (every prompt, image and answer), ``masks/*.png``,
``video.mp4`` and ``summary.json``.

    runs/NAME/
      events.jsonl  planner.jsonl  planner/0003_predict_box_current_head_image.png
      masks/attempt01_mask.png  masks/attempt01_overlay.png  video.mp4  summary.json
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from dexgrasp.vla.planner.types import BoundingBox, PlannerRecord


def to_jsonable(value: Any) -> Any:
    """Plain-JSON version of planner outputs and numpy values."""
    if isinstance(value, BoundingBox):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist() if value.size <= 64 else f"<array {value.shape} {value.dtype}>"
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return repr(value)


class RunRecorder:
    """Writes one run directory; with ``out_dir=None`` it only keeps events in memory."""

    def __init__(
        self, out_dir: str | Path | None, *, video: bool = True, fps: float = 10.0
    ) -> None:
        self.out = Path(out_dir) if out_dir is not None else None
        self.video = video and self.out is not None
        self.fps = fps
        self.events: list[dict[str, Any]] = []
        self.n_planner = 0
        self.n_frames = 0
        self._t0 = time.perf_counter()
        if self.out is not None:
            if self.out.exists() and any(self.out.iterdir()):
                raise FileExistsError(
                    f"{self.out} already exists and is not empty; choose another --out"
                )
            (self.out / "planner").mkdir(parents=True, exist_ok=True)
            (self.out / "masks").mkdir(exist_ok=True)
            if self.video:
                (self.out / "frames").mkdir(exist_ok=True)

    def _append(self, name: str, obj: dict[str, Any]) -> None:
        if self.out is not None:
            with open(self.out / name, "a") as f:
                f.write(json.dumps(to_jsonable(obj)) + "\n")

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        ev = {"time_s": round(time.perf_counter() - self._t0, 3), "event": kind, **fields}
        self.events.append(ev)
        self._append("events.jsonl", ev)
        return ev

    def planner(self, record: PlannerRecord) -> None:
        """Log one planner exchange with its images."""
        from dexgrasp.viz.images import save_png

        self.n_planner += 1
        files = {}
        if self.out is not None:
            for name, image in record.images.items():
                slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
                path = self.out / "planner" / f"{self.n_planner:04d}_{record.subtask}_{slug}.png"
                save_png(path, image)
                files[name] = str(path.relative_to(self.out))
        self._append(
            "planner.jsonl",
            {
                "index": self.n_planner,
                "time_s": round(time.perf_counter() - self._t0, 3),
                "subtask": record.subtask,
                "attempt": record.attempt,
                "prompt": record.prompt,
                "images": files,
                "answer": record.answer,
                "parsed": record.parsed,
                "error": record.error,
            },
        )

    def mask(self, tag: str, head: np.ndarray, mask: np.ndarray, box: Any = None) -> None:
        from dexgrasp.viz.images import draw_box, overlay_mask, save_png

        if self.out is None:
            return
        save_png(self.out / "masks" / f"{tag}_mask.png", (mask > 0).astype(np.uint8) * 255)
        over = overlay_mask(head, mask, color=(255, 0, 0), alpha=0.45)
        if box is not None:
            over = draw_box(
                over,
                list(box.xyxy if hasattr(box, "xyxy") else box),
                label=getattr(box, "label", None),
            )
        save_png(self.out / "masks" / f"{tag}_overlay.png", over)

    def frame(self, image: np.ndarray) -> None:
        if not self.video or self.out is None:
            return
        from PIL import Image

        Image.fromarray(image).save(self.out / "frames" / f"{self.n_frames:06d}.jpg", quality=90)
        self.n_frames += 1

    def finish(self, summary: dict[str, Any]) -> Path | None:
        """Write the video and ``summary.json``; returns the run directory."""
        if self.out is None:
            return None
        if self.video and self.n_frames:
            from PIL import Image

            from dexgrasp.viz.video import write_mp4

            frames_dir = self.out / "frames"
            paths = sorted(frames_dir.glob("*.jpg"))
            write_mp4(
                self.out / "video.mp4",
                (np.asarray(Image.open(p).convert("RGB")) for p in paths),
                fps=self.fps,
            )
            shutil.rmtree(frames_dir)
            summary = {**summary, "video": "video.mp4", "video_frames": self.n_frames}
        elif self.video:
            shutil.rmtree(self.out / "frames", ignore_errors=True)
        (self.out / "summary.json").write_text(json.dumps(to_jsonable(summary), indent=2) + "\n")
        return self.out
