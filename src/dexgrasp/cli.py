"""The `dexgrasp` command: one entry point, verbs contributed by each area.

Each area module listed in AREAS defines ``register(top, groups)``:
``top`` is the argparse sub-parser collection for top-level verbs (``collect``, ``run``,
``generate``, ...) and ``groups`` maps the shared verbs ``train``, ``eval`` and ``grasps`` to their
own sub-parser collections (``dexgrasp train controller``, ``dexgrasp eval controller``).
Every command sets ``func`` (called with the parsed namespace, returns an exit code).
Area modules import heavy dependencies inside their handlers so that ``dexgrasp --help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

AREAS = (
    "dexgrasp.sim.cli",  # collect, render, video
    "dexgrasp.data.cli",  # inspect stores
    "dexgrasp.vla.controller.cli",  # train/eval controller
    "dexgrasp.vla.runtime.cli",  # run
    "dexgrasp.grasps.cli",  # grasps synth|render|import
    "dexgrasp.grasps.eval_cli",  # grasps eval
    "dexgrasp.dexter.cli",  # train/eval dexter, generate
)
SHARED_VERBS = {
    "train": "train a model (controller, dexter)",
    "eval": "evaluate a model or system with the papers' protocols",
    "export": "package a trained model for shipping (controller, dexter)",
    "grasps": "grasp data for DextER: synthesise, annotate, import, evaluate, render",
}


def command_line(args: argparse.Namespace) -> str:
    """The ``dexgrasp VERB WHAT --option value ...`` command that reproduces parsed ``args``
    (every option that is set, defaults included), for provenance records."""
    parts = ["dexgrasp", args.command] + ([args.what] if getattr(args, "what", None) else [])
    for key, value in vars(args).items():
        if key in ("func", "command", "what") or value is None or value is False or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        values = value if isinstance(value, list) else [value]
        for v in values:
            parts += [flag] if v is True else [flag, str(v)]
    return " ".join(parts)


def add_export_parser(
    exports, name: str, *, what: str, description: str, source: str, source_help: str, func
) -> None:
    """Register ``dexgrasp export NAME`` under the ``exports`` subparsers: the trained directory
    (``source``, e.g. ``--ckpt``), ``--out`` and the weights' storage ``--dtype``; ``func``
    handles it (usually through :func:`export_model`)."""
    p = exports.add_parser(
        name,
        help=f"copy a trained {what} into a self-contained directory (optionally fp16)",
        description=description,
    )
    p.add_argument(source, required=True, help=source_help)
    p.add_argument("--out", required=True, help="destination directory")
    p.add_argument("--dtype", default="float16", choices=("float16", "bfloat16", "float32"),
                   help="storage type of the weights (float16: half the size)")  # fmt: skip
    p.set_defaults(func=func)


def export_model(load, src, out, dtype: str, what: str, source: str = "--ckpt") -> int:
    """``dexgrasp export WHAT``: load the trained model in ``src`` with ``load`` (which checks
    it), save it to ``out`` with its weights stored as ``dtype`` and copy its
    ``provenance.json``. ``source`` names the option ``src`` came from, for the error."""
    import shutil
    from pathlib import Path

    import torch

    src, out = Path(src), Path(out)
    if src.resolve() == out.resolve():
        print(f"--out must differ from {source}", file=sys.stderr)
        return 2
    load(src).save_pretrained(out, weights_dtype=getattr(torch, dtype))
    if (src / "provenance.json").is_file():
        shutil.copy2(src / "provenance.json", out / "provenance.json")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{what} exported to {out} ({size / 1e6:.1f} MB, weights {dtype})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dexgrasp",
        description="Language-driven dexterous grasping: DexGraspVLA and DextER.",
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {
        verb: top.add_parser(verb, help=text).add_subparsers(dest="what", required=True)
        for verb, text in SHARED_VERBS.items()
    }
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:  # the area exists but something it imports is missing
                raise
            continue
        module.register(top, groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
