"""DextER training loop: next-token loss on answers, AdamW + cosine warm-up, accelerate, resume.

Example::

    model = DexterModel.build(DexterConfig.preset("tiny"))
    fit_tokenizer(model.tokenizer, samples, model.config)
    summary = train(model, objects, samples, TrainConfig(output_dir="runs/dexter", steps=2000))

The output directory holds the model (``config.json``, ``model.safetensors``, ``tokenizer/``),
``train_state/`` (optimizer, scheduler, RNG and step, for ``resume=True``) and ``log.jsonl``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexgrasp.constants import MIXED_PRECISION_MODES
from dexgrasp.dexter.data import DexterDataset, GraspSample, collate
from dexgrasp.dexter.model import DexterModel
from dexgrasp.precision import resolve_mixed_precision

STATE_DIR = "train_state"
STEP_FILE = "step.json"


@dataclass
class TrainConfig:
    """Optimisation settings (defaults: the paper's Table 5, except batch size and steps).

    Attributes:
        output_dir: where the model, training state and log go.
        steps: optimiser steps.
        batch_size: samples per step (per process).
        lr, betas, eps, weight_decay: AdamW.
        warmup_steps: linear warm-up, then cosine decay to 0.
        grad_clip: max gradient norm.
        contact_dropout: probability of dropping a sample's contact positions.
        steer_prob: probability of a steering-shaped answer (random contacts first), so that
            steering with links late in hand order does not truncate the contact block.
        mixed_precision: "auto" (bf16 on GPU, fp32 on CPU), "bf16" or "no".
        gradient_checkpointing: recompute LLM activations in the backward pass.
        save_every: steps between checkpoints (and at the end).
        log_every: steps between log lines.
        resume: continue from ``output_dir/train_state`` when it exists.
        seed: data order, dropout and initialisation seed.
        num_workers: DataLoader workers.
    """

    output_dir: str = "runs/dexter"
    steps: int = 100_000
    batch_size: int = 64
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 1e-10
    warmup_steps: int = 1000
    grad_clip: float = 1.0
    contact_dropout: float = 0.5
    steer_prob: float = 0.25
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = False
    save_every: int = 1000
    log_every: int = 50
    resume: bool = True
    seed: int = 0
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0:
            raise ValueError("TrainConfig.warmup_steps must be >= 0")
        if not 0.0 <= self.contact_dropout <= 1.0:
            raise ValueError("TrainConfig.contact_dropout must be in [0, 1]")
        if not 0.0 <= self.steer_prob <= 1.0:
            raise ValueError("TrainConfig.steer_prob must be in [0, 1]")
        if self.mixed_precision not in MIXED_PRECISION_MODES:
            raise ValueError("TrainConfig.mixed_precision must be 'auto', 'bf16' or 'no'")
        if self.grad_clip <= 0:
            raise ValueError("TrainConfig.grad_clip must be > 0")


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    """Learning-rate multiplier: linear warm-up over ``warmup`` steps, then cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train(
    model: DexterModel,
    objects: Mapping[str, np.ndarray],
    samples: Sequence[GraspSample],
    config: TrainConfig,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``model`` (its tokenizer must be fitted) and save it to ``config.output_dir``.

    Returns a summary: steps, final loss/accuracy (mean of the last log window), wall time.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    if not model.tokenizer.is_fitted:
        raise RuntimeError("fit the tokenizer on the training samples before training")
    out = Path(config.output_dir)
    precision = resolve_mixed_precision(config.mixed_precision)
    acc = Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())
    set_seed(config.seed)
    if config.gradient_checkpointing:
        model.llm.gradient_checkpointing_enable({"use_reentrant": False})
    dataset = DexterDataset(
        objects,
        samples,
        model.tokenizer,
        model.num_point_tokens,
        contact_dropout=config.contact_dropout,
        action_only=model.config.action_only,
        seed=config.seed,
        steer_prob=config.steer_prob,
        augment_rotation=model.config.augment_rotation,
        augment_shift=model.config.augment_shift,
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= config.batch_size,
        collate_fn=partial(collate, pad_id=model.tokenizer.pad_id),
        num_workers=config.num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optim = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=config.lr,
        betas=config.betas,
        eps=config.eps,
    )
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, partial(cosine_with_warmup, warmup=config.warmup_steps, total=config.steps)
    )
    model, optim, loader, sched = acc.prepare(model, optim, loader, sched)
    step = 0
    state_dir = out / STATE_DIR
    if config.resume and (state_dir / STEP_FILE).is_file():
        acc.load_state(str(state_dir))
        step = int(json.loads((state_dir / STEP_FILE).read_text())["step"])
        acc.print(f"resumed from {state_dir} at step {step}")
    if acc.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(asdict(config), indent=1))
    raw = acc.unwrap_model(model)

    def save() -> None:
        acc.wait_for_everyone()
        if acc.is_main_process:
            raw.save_pretrained(out)
        acc.save_state(str(state_dir))
        if acc.is_main_process:
            (state_dir / STEP_FILE).write_text(json.dumps({"step": step}))

    window: list[dict[str, float]] = []
    last: dict[str, float] | None = None
    t0 = time.perf_counter()
    bar = tqdm(total=config.steps, initial=step, disable=not progress or not acc.is_main_process)
    per_epoch = len(loader)
    log = open(out / "log.jsonl", "a") if acc.is_main_process else None  # noqa: SIM115
    model.train()
    try:
        while step < config.steps:
            epoch, skip = divmod(step, per_epoch)
            dataset.epoch = epoch
            loader_epoch = acc.skip_first_batches(loader, skip) if skip else loader
            for batch in loader_epoch:
                loss, info = model(batch)
                acc.backward(loss)
                acc.clip_grad_norm_(model.parameters(), config.grad_clip)
                optim.step()
                sched.step()
                optim.zero_grad(set_to_none=True)
                step += 1
                window.append(info)
                bar.update(1)
                if step % config.log_every == 0 or step == config.steps:
                    row = {
                        "step": step,
                        "loss": float(np.mean([w["loss"] for w in window])),
                        "acc": float(np.mean([w["acc"] for w in window])),
                        "lr": sched.get_last_lr()[0],
                        "time_s": time.perf_counter() - t0,
                    }
                    bar.set_postfix(loss=f"{row['loss']:.3f}", acc=f"{row['acc']:.2f}")
                    if log:
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                    last, window = row, []
                if step % config.save_every == 0 or step == config.steps:
                    save()
                if step >= config.steps:
                    break
    finally:
        bar.close()
        if log:
            log.close()
    if last is None:  # resumed at or past the last step: nothing to do
        return {"steps": step, "wall_s": 0.0}
    return {
        "steps": step,
        "loss": last["loss"],
        "acc": last["acc"],
        "wall_s": time.perf_counter() - t0,
    }
