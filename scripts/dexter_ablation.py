"""Train DextER's ablation variants side by side on one GPU (the paper's Tables 1-3 models).

The tiny model leaves a GPU mostly idle, so several trainings share it well. This script
starts every variant as its own ``dexgrasp train dexter`` process, all with the same data,
seed, batch and step schedule, and only the flags of the ablation changed:

    python scripts/dexter_ablation.py train --data DS --out runs/ablation --minutes 6
    dexgrasp eval dexter --data DS --split unseen --model er=runs/ablation/er \
        --model noer=runs/ablation/noer ...

``--minutes`` first times a short run of all variants together (``--calibrate-steps``) and
then sets ``--steps`` so the real runs end within that many minutes (rounded down to 500);
``--steps N`` fixes it instead. ``pack`` writes a training-only copy of a grasp dataset
(fewer points per object, no normals or meshes) small enough to carry to a lent machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VARIANTS: dict[str, list[str]] = {
    "er": [],  # contacts first, contact-position dropout 0.5 (the paper's default)
    "noer": ["--action-only"],  # Table 1: without embodied reasoning
    "p0": ["--contact-dropout", "0"],  # Table 3 (upper): dropout 0 / 0.7 / 1.0
    "p07": ["--contact-dropout", "0.7"],
    "p10": ["--contact-dropout", "1.0"],
    "bins128": ["--pos-bins", "128", "--action-bins", "128"],  # Table 2: bin counts
    "bins512": ["--pos-bins", "512", "--action-bins", "512"],
}
MODEL_FILES = ("config.json", "llm_config.json", "model.safetensors", "train_config.json",
               "log.jsonl")  # fmt: skip


def _launch(args: argparse.Namespace, names: list[str], out: Path, steps: int) -> float:
    """Run the variants' trainings concurrently; returns the wall time in seconds."""
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    t0 = time.perf_counter()
    for name in names:
        cmd = [
            sys.executable, "-m", "dexgrasp.cli", "train", "dexter", "--data", args.data,
            "--config", "tiny", "--out", str(out / name), "--steps", str(steps),
            "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--no-resume",
            "--save-every", str(max(steps, 1)), "--num-workers", str(args.num_workers),
            *VARIANTS[name], *args.extra,
        ]  # fmt: skip
        if args.max_grasps_per_object:
            cmd += ["--max-grasps-per-object", str(args.max_grasps_per_object)]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        log = open(out / f"{name}.log", "w")  # noqa: SIM115
        procs.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)))
    failed = [name for name, p in procs if p.wait() != 0]
    if failed:
        for name in failed:
            print(
                f"--- {name} failed; end of its log:\n{(out / f'{name}.log').read_text()[-3000:]}"
            )
        raise SystemExit(f"training failed for {failed}")
    return time.perf_counter() - t0


def _step_seconds(run: Path) -> float:
    """Seconds per step between the first and last log lines of a calibration run."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line]
    if len(rows) < 2:
        raise SystemExit(f"{run}: too few log lines to time a step")
    return (rows[-1]["time_s"] - rows[0]["time_s"]) / (rows[-1]["step"] - rows[0]["step"])


def train(args: argparse.Namespace) -> None:
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    out = Path(args.out)
    report: dict = {"variants": {n: VARIANTS[n] for n in names}, "batch_size": args.batch_size}
    steps = args.steps
    if steps is None:
        cal = out / "_calibration"
        wall = _launch(args, names, cal, args.calibrate_steps)
        per_step = max(_step_seconds(cal / n) for n in names)
        startup = wall - per_step * args.calibrate_steps
        steps = int((args.minutes * 60 - startup) / per_step) // 500 * 500
        if steps < 500:
            raise SystemExit(f"{args.minutes} min fit only {steps} steps ({per_step:.3f} s/step)")
        report["calibration"] = {"steps": args.calibrate_steps, "wall_s": wall,
                                 "s_per_step": per_step, "startup_s": startup}  # fmt: skip
        shutil.rmtree(cal)
        print(
            f"calibration: {per_step:.3f} s/step with {len(names)} runs together -> {steps} steps"
        )
    report["steps"] = steps
    report["wall_s"] = _launch(args, names, out, steps)
    (out / "ablation.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


def pack(args: argparse.Namespace) -> None:
    """A training-only copy of a grasp dataset: the first K points of each object, no meshes."""
    import numpy as np

    src, dst = Path(args.data), Path(args.out)
    if dst.exists():
        raise SystemExit(f"{dst} exists; remove it first")
    (dst / "objects").mkdir(parents=True)
    shutil.copytree(src / "grasps", dst / "grasps")
    for name in ("meta.json", "splits.json"):
        shutil.copy2(src / name, dst / name)
    for meta in sorted((src / "objects").glob("*.json")):
        record = json.loads(meta.read_text())
        record.pop("mesh", None)
        (dst / "objects" / meta.name).write_text(json.dumps(record))
        with np.load(meta.with_suffix(".npz")) as z:
            np.savez(dst / "objects" / meta.with_suffix(".npz").name,
                     points=z["points"][: args.points], labels=z["labels"][: args.points])  # fmt: skip
    print(f"packed {src} -> {dst}")


def collect(args: argparse.Namespace) -> None:
    """Copy each variant's model files (weights cast to float16 if asked) into one folder."""
    import torch
    from safetensors.torch import load_file, save_file

    src, dst = Path(args.runs), Path(args.out)
    for run in sorted(p for p in src.iterdir() if (p / "model.safetensors").is_file()):
        (dst / run.name).mkdir(parents=True, exist_ok=True)
        for name in MODEL_FILES:
            if (run / name).is_file():
                shutil.copy2(run / name, dst / run.name / name)
        shutil.copytree(run / "tokenizer", dst / run.name / "tokenizer", dirs_exist_ok=True)
        step = run / "train_state" / "step.json"
        if step.is_file():
            (dst / run.name / "train_state").mkdir(exist_ok=True)
            shutil.copy2(step, dst / run.name / "train_state" / "step.json")
        if args.float16:
            weights = load_file(run / "model.safetensors")
            save_file({k: v.to(torch.float16) if v.is_floating_point() else v
                       for k, v in weights.items()}, dst / run.name / "model.safetensors")  # fmt: skip
    for extra in src.glob("*.json"):
        shutil.copy2(extra, dst / extra.name)
    for extra in src.glob("*.log"):
        shutil.copy2(extra, dst / extra.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the variants side by side")
    t.add_argument("--data", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--variants", default=",".join(VARIANTS))
    t.add_argument("--steps", type=int, default=None, help="fixed step count (else --minutes)")
    t.add_argument("--minutes", type=float, default=6.0)
    t.add_argument("--calibrate-steps", type=int, default=100)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--max-grasps-per-object", type=int, default=None)
    t.add_argument("--threads", type=int, default=2, help="torch threads per training")
    t.add_argument("--num-workers", type=int, default=0,
                   help="data loader processes per training (the tiny model on a GPU waits "
                   "for its data without them)")  # fmt: skip
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("extra", nargs="*", help="more flags for every run (after --)")
    t.set_defaults(func=train)
    p = sub.add_parser("pack", help="training-only copy of a grasp dataset")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--points", type=int, default=2048)
    p.set_defaults(func=pack)
    c = sub.add_parser("collect", help="gather the trained models' files")
    c.add_argument("--runs", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--float16", action="store_true", help="store weights as float16")
    c.set_defaults(func=collect)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
