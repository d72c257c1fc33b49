"""Noise schedulers (diffusers) and immiscible noise assignment.

Training uses ``DDPMScheduler`` to noise action chunks; inference uses ``DDIMScheduler`` with
16 steps; both with Table 5's settings (50 training steps, ``squaredcos_cap_v2``,
``clip_sample``, ``set_alpha_to_one``, ``steps_offset=0``, epsilon prediction).

Immiscible diffusion (Li et al., 2024): within a batch, noise samples are re-assigned to
action chunks by a minimum-total-distance matching, so each chunk is noised towards a nearby
noise sample. The marginal of the noise stays Gaussian (it is a permutation of i.i.d. draws).
"""

from __future__ import annotations

import numpy as np
import torch

from dexgrasp.vla.controller.configuration import ControllerConfig


def _scheduler_kwargs(cfg: ControllerConfig) -> dict:
    return {
        "num_train_timesteps": cfg.num_train_timesteps,
        "beta_start": cfg.beta_start,
        "beta_end": cfg.beta_end,
        "beta_schedule": cfg.beta_schedule,
        "clip_sample": cfg.clip_sample,
        "prediction_type": cfg.prediction_type,
    }


def make_train_scheduler(cfg: ControllerConfig):
    """``diffusers.DDPMScheduler`` used to add noise during training."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(**_scheduler_kwargs(cfg))


def make_inference_scheduler(cfg: ControllerConfig):
    """``diffusers.DDIMScheduler`` with ``num_inference_steps`` timesteps already set."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(
        **_scheduler_kwargs(cfg),
        set_alpha_to_one=cfg.set_alpha_to_one,
        steps_offset=cfg.steps_offset,
    )
    sched.set_timesteps(cfg.num_inference_steps)
    return sched


def immiscible_assignment(actions: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Permutation ``perm`` such that ``noise[perm[i]]`` is matched to ``actions[i]``.

    actions, noise: (B, ...) with the same shape. Minimises the total L2 distance between
    each action chunk and its noise sample (Hungarian algorithm on the B x B distance matrix).
    Returns a (B,) int64 tensor on the inputs' device.
    """
    if actions.shape != noise.shape:
        raise ValueError(
            f"shape mismatch: actions {tuple(actions.shape)}, noise {tuple(noise.shape)}"
        )
    from scipy.optimize import linear_sum_assignment

    a = actions.detach().reshape(actions.shape[0], -1).float().cpu()
    n = noise.detach().reshape(noise.shape[0], -1).float().cpu()
    cost = torch.cdist(a, n).numpy().astype(np.float64)
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty_like(cols)
    perm[rows] = cols
    return torch.as_tensor(perm, dtype=torch.long, device=actions.device)


def immiscible_noise(
    actions: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gaussian noise shaped like ``actions``, re-ordered by :func:`immiscible_assignment`."""
    noise = torch.randn(
        actions.shape, generator=generator, device=actions.device, dtype=actions.dtype
    )
    return noise[immiscible_assignment(actions, noise)]


def medoid(samples: torch.Tensor) -> torch.Tensor:
    """(B, K, ...) -> (B, ...): per batch row, the sample with the least total L2 distance to
    the other K - 1 (a consensus pick that stays inside one mode, unlike the mean)."""
    if samples.ndim < 3:
        raise ValueError(f"expected (B, K, ...), got shape {tuple(samples.shape)}")
    flat = samples.flatten(2)
    total = torch.cdist(flat, flat).sum(-1)  # (B, K)
    return samples[torch.arange(samples.shape[0]), total.argmin(-1)]


def coherent(samples: torch.Tensor, plan: torch.Tensor, shift: int) -> torch.Tensor:
    """(B, K, H, A) chunks -> (B, H, A): per batch row, the sample that best continues
    ``plan`` (B, H, A), the chunk chosen ``shift`` steps earlier. Compares the sample's first
    ``H - shift`` steps with the plan's unexecuted remainder (the backward-coherence pick of
    bidirectional decoding, Liu et al. 2024): successive chunks then stay in one grasp mode."""
    if (
        samples.ndim != 4
        or plan.ndim != 3
        or (samples.shape[0], *samples.shape[2:]) != tuple(plan.shape)
    ):
        raise ValueError(
            f"expected samples (B, K, H, A) and plan (B, H, A), got {tuple(samples.shape)} "
            f"and {tuple(plan.shape)}"
        )
    h = samples.shape[2]
    if not 0 <= shift < h:
        raise ValueError(f"shift={shift} must be in [0, horizon={h})")
    overlap = samples[:, :, : h - shift] - plan[:, None, shift:]
    dist = overlap.flatten(2).norm(dim=-1)  # (B, K)
    return samples[torch.arange(samples.shape[0]), dist.argmin(-1)]
