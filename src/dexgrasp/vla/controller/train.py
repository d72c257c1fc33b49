"""Train the controller with ``accelerate`` (one CPU to many GPUs).

Single process: ``dexgrasp train controller --data demos.zarr --config small --out DIR``.
Many processes/GPUs: ``accelerate launch --num_processes 8 -m dexgrasp.cli train controller ...``
(each process takes ``batch_size`` samples per step; gradients are all-reduced).

Output directory::

    DIR/config.json, model.safetensors, normalization.json   the policy (from_pretrained(DIR))
    DIR/train_config.json                                    optimisation settings
    DIR/train_log.jsonl                                      one JSON line per logged step
    DIR/state/                                               accelerate state for exact resume
    DIR/feature_cache/                                       frozen-encoder features (optional)

Resume is exact: model, optimizer, LR schedule, EMA, step counter and every RNG are
restored, and the data order is a pure function of (seed, epoch), so an interrupted run
continues as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Sampler

from dexgrasp.precision import resolve_mixed_precision
from dexgrasp.vla.controller.configuration import ControllerConfig, TrainConfig
from dexgrasp.vla.controller.dataset import ControllerDataset, FeatureCache, FeatureCacheError
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer
from dexgrasp.vla.controller.target import anchor_position, fit_anchor_calibration

LOG_NAME = "train_log.jsonl"
STATE_DIR = "state"


class EpochSampler(Sampler[int]):
    """Shuffled indices, a pure function of (seed, epoch): needed for exact resume."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


class TrainState:
    """Counters saved with the accelerate state."""

    def __init__(self) -> None:
        self.step = 0
        self.epoch = 0

    def state_dict(self) -> dict[str, int]:
        return {"step": self.step, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step, self.epoch = int(state["step"]), int(state["epoch"])


class EMA:
    """Exponential moving average of the trainable parameters."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.shadow = {n: p.detach().clone().float() for n, p in self.params.items()}

    @torch.no_grad()
    def update(self) -> None:
        for n, p in self.params.items():
            self.shadow[n].lerp_(p.detach().float(), 1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for n in self.shadow:
            self.shadow[n].copy_(state[n])

    @torch.no_grad()
    def swap(self) -> None:
        """Exchange live and averaged weights (call twice to undo)."""
        for n, p in self.params.items():
            live = p.detach().clone()
            p.copy_(self.shadow[n].to(p.dtype))
            self.shadow[n].copy_(live.float())


def _collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def _trim_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint we resume from."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in keep))


def _load_weights(model: DexGraspVLAController, source: DexGraspVLAController, name: str) -> None:
    """Copy ``source``'s trainable weights into ``model`` (same architecture; parameters
    only ``model`` has, like the mask-geometry MLP, keep their initial values)."""
    # what the statistics describe
    for field in ("action_mode", "action_space", "norm_mode", "horizon"):
        if getattr(source.config, field) != getattr(model.config, field):
            raise ValueError(
                f"--init-from {name} was trained with {field}={getattr(source.config, field)!r}, "
                f"this config has {getattr(model.config, field)!r}: its statistics do not apply"
            )
    own = model.trainable_state_dict()
    theirs = source.trainable_state_dict()
    unknown = sorted(set(theirs) - set(own))
    shapes = sorted(k for k in set(theirs) & set(own) if theirs[k].shape != own[k].shape)
    if unknown or shapes:
        raise ValueError(
            f"--init-from {name} does not fit this config: parameters {unknown[:5]} are unknown "
            f"and {shapes[:5]} differ in shape; use the checkpoint's own config.json"
        )
    model.load_state_dict(theirs, strict=False)


def _anchor_calibration(config: ControllerConfig, progress: bool) -> torch.Tensor:
    """Fit the head camera's mask -> target calibration (``action_anchor="mask"``)."""
    from dexgrasp.vla.controller.evaluate import camera_size

    calib, fit = fit_anchor_calibration(camera_size(config.image_size))
    if progress:
        print(
            f"anchor calibration: held-out target xy error median {fit['median_xy_m'] * 100:.2f}"
            f" cm, 90th percentile {fit['p90_xy_m'] * 100:.2f} cm"
        )
    return calib


def train_controller(
    data: str | Path,
    out_dir: str | Path,
    config: ControllerConfig,
    train_cfg: TrainConfig,
    episodes: list[int] | None = None,
    resume: bool = True,
    progress: bool = True,
    accelerator: Any = None,
    stop_after: int | None = None,
) -> Path:
    """Train on the episodes of store ``data``; write the policy and logs to ``out_dir``.

    ``stop_after``: checkpoint and return after this many steps of this call (time-sliced
    jobs); calling again with ``resume=True`` continues exactly where it stopped.

    Returns ``out_dir``, loadable with ``DexGraspVLAController.from_pretrained``.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from diffusers.optimization import get_cosine_schedule_with_warmup
    from tqdm.auto import tqdm

    from dexgrasp.data.episodes import EpisodeStore

    out = Path(out_dir)
    acc = accelerator or Accelerator(
        mixed_precision=resolve_mixed_precision(train_cfg.mixed_precision)
    )
    set_seed(train_cfg.seed)
    store = EpisodeStore(data)
    state_dir = out / STATE_DIR
    resuming = resume and (state_dir / "train_state.json").is_file()

    anchored = config.action_anchor != "none"
    dataset = ControllerDataset(
        store, config.horizon, episodes=episodes, seed=train_cfg.seed, anchor=anchored
    )
    source = calib = None
    if train_cfg.init_from and not resuming:
        source = DexGraspVLAController.from_pretrained(train_cfg.init_from)
    if resuming and (out / "normalization.json").is_file():
        normalizer = Normalizer.load(out / "normalization.json", config.norm_mode)
    elif source is not None and source.config.action_anchor == config.action_anchor:
        normalizer = source.normalizer  # fine-tuning keeps the statistics of its weights
    else:  # fitted on the training episodes only
        anchors = None
        if anchored:  # what the actions are measured from (target.py)
            calib = _anchor_calibration(config, progress)
            anchors = anchor_position(torch.from_numpy(dataset.anchor_geometry), calib).numpy()
        relative = config.horizon if config.action_mode == "relative" else None
        kinematics = None
        if config.action_space == "palm":
            from dexgrasp.vla.controller.kinematics import PalmKinematics

            kinematics = PalmKinematics()
        normalizer = Normalizer.fit(
            store, episodes=episodes, mode=config.norm_mode, relative_horizon=relative,
            kinematics=kinematics, anchors=anchors,
        )  # fmt: skip
    normalizer.check_dims(config.state_dim, config.model_action_dim)
    model = DexGraspVLAController(config, normalizer)
    if calib is not None:
        model.anchor_calib.copy_(calib)
    if config.grasp_modes and not resuming:  # a fine-tuned source with modes brings its own
        model.fit_grasp_modes(dataset.final_actions(), seed=train_cfg.seed)
    if source is not None:
        _load_weights(model, source, train_cfg.init_from)

    if train_cfg.feature_cache_views > 0 and model.frozen_prefixes():
        cache_dir = out / "feature_cache"
        if acc.is_main_process:
            try:
                FeatureCache.open(cache_dir, config, store, train_cfg.feature_cache_views)
            except FeatureCacheError:
                FeatureCache.build(
                    cache_dir, model.to(acc.device), store, train_cfg.feature_cache_views,
                    seed=train_cfg.seed, progress=progress,
                )  # fmt: skip
        acc.wait_for_everyone()
        dataset.cache = FeatureCache.open(cache_dir, config, store, train_cfg.feature_cache_views)

    if len(dataset) < train_cfg.batch_size:
        raise ValueError(
            f"{len(dataset)} training frames is fewer than batch_size={train_cfg.batch_size}"
        )
    sampler = EpochSampler(len(dataset), train_cfg.seed)
    loader = DataLoader(
        dataset, batch_size=train_cfg.batch_size, sampler=sampler, drop_last=True,
        num_workers=train_cfg.num_workers, collate_fn=_collate,
        # Its own generator: creating an iterator must not consume the global RNG, or a
        # resumed run (which creates one mid-epoch) would draw different noise.
        generator=torch.Generator().manual_seed(train_cfg.seed),
    )  # fmt: skip
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params, lr=train_cfg.lr, betas=train_cfg.betas, weight_decay=train_cfg.weight_decay,
        fused=acc.device.type == "cuda",
    )  # fmt: skip
    steps_per_epoch = len(loader) // acc.num_processes
    if steps_per_epoch == 0:
        raise ValueError("fewer batches than processes: lower batch_size or add data")
    total = train_cfg.epochs * steps_per_epoch
    if train_cfg.max_steps is not None:
        total = min(total, train_cfg.max_steps)
    lr_sched = get_cosine_schedule_with_warmup(optimizer, min(train_cfg.warmup_steps, total), total)
    model, optimizer, loader = acc.prepare(model, optimizer, loader)
    policy: DexGraspVLAController = acc.unwrap_model(model)
    ema = EMA(policy, train_cfg.ema_decay) if train_cfg.ema else None
    tstate = TrainState()
    acc.register_for_checkpointing(lr_sched, tstate)
    if ema is not None:
        acc.register_for_checkpointing(ema)

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG_NAME
    if resuming:
        acc.load_state(str(state_dir))
        if acc.is_main_process:
            _trim_log(log_path, tstate.step)
    elif acc.is_main_process:
        log_path.write_text("")
        (out / "train_config.json").write_text(json.dumps(asdict(train_cfg), indent=2) + "\n")
        if progress:
            print(f"controller: {policy.describe()}, {len(dataset)} frames, {total} steps")

    def export() -> None:
        acc.wait_for_everyone()
        if acc.is_main_process:
            if ema is not None:
                ema.swap()
            policy.save_pretrained(out)
            if ema is not None:
                ema.swap()

    def checkpoint() -> None:
        tmp = out / (STATE_DIR + ".tmp")
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if acc.is_main_process:
            (tmp / "train_state.json").write_text(json.dumps(tstate.state_dict()))
            if state_dir.exists():
                shutil.rmtree(state_dir)
            tmp.rename(state_dir)
        export()

    bar = tqdm(total=total, initial=tstate.step, desc="train controller",
               disable=not (progress and acc.is_main_process))  # fmt: skip
    model.train()
    t0, last_loss = time.time(), math.nan
    total_this_call = min(total, tstate.step + stop_after) if stop_after is not None else total
    while tstate.step < total_this_call:
        epoch = tstate.epoch
        skip = tstate.step - epoch * steps_per_epoch
        batches = acc.skip_first_batches(loader, skip) if skip > 0 else loader
        if hasattr(batches, "set_epoch"):  # accelerate re-seeds the sampler with its counter
            batches.set_epoch(epoch)
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        for batch in batches:
            loss, info = model(batch)
            acc.backward(loss)
            grad_norm = acc.clip_grad_norm_(params, train_cfg.grad_clip)
            optimizer.step()
            lr_sched.step()
            optimizer.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update()
            tstate.step += 1
            last_loss = float(acc.reduce(loss.detach(), reduction="mean"))
            bar.update(1)
            bar.set_postfix(loss=f"{last_loss:.4f}")
            if acc.is_main_process and tstate.step % train_cfg.log_every == 0:
                rec = {
                    "step": tstate.step, "epoch": epoch, "loss": last_loss,
                    "grad_norm": float(grad_norm), "lr": lr_sched.get_last_lr()[0],
                    "time_s": round(time.time() - t0, 3), "processes": acc.num_processes,
                }  # fmt: skip
                if "mode_acc" in info:  # this process's batch (grasp_modes)
                    rec["mode_acc"] = info["mode_acc"]
                with log_path.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
            if tstate.step >= total_this_call:
                break
            if tstate.step % train_cfg.checkpoint_every == 0:
                checkpoint()
        else:  # the epoch ran to its end
            tstate.epoch += 1
    bar.close()
    checkpoint()
    return out


__all__ = ["EMA", "EpochSampler", "TrainState", "train_controller"]
