"""Mixed precision chosen by what the hardware runs natively.

bf16 autocast pays on GPUs and on CPUs with bf16 matrix units (AVX512-BF16 or AMX). Elsewhere
torch emulates bf16 matrix products, and training gets slower, not faster: on an AVX2-only
AMD EPYC a small-preset controller training step took 16.5 s in bf16 against 1.0 s in fp32
(docs/controller.md). Both trainers resolve their ``mixed_precision`` setting here.
"""

from __future__ import annotations

import warnings

import torch

from dexgrasp.constants import MIXED_PRECISION_MODES as MODES


class PrecisionWarning(UserWarning):
    """A precision setting that will run much slower than the default on this machine."""


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX tiles)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def resolve_mixed_precision(mode: str, cuda: bool | None = None) -> str:
    """``"auto"`` -> ``"bf16"`` on CUDA, ``"no"`` elsewhere; ``"no"`` and ``"bf16"`` stay as
    asked, but ``"bf16"`` without CUDA on a CPU without bf16 units warns (PrecisionWarning).
    ``cuda``: whether training runs on CUDA (default: whether a GPU is visible)."""
    if mode not in MODES:
        raise ValueError(f"mixed_precision={mode!r}: expected one of {MODES}")
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if mode == "auto":
        return "bf16" if cuda else "no"
    if mode == "bf16" and not cuda and not cpu_has_native_bf16():
        warnings.warn(
            "bf16 mixed precision on a CPU without bf16 matrix units (AVX512-BF16 or AMX): torch "
            "emulates it, which made a training step 16x slower than fp32 on an AVX2-only CPU; "
            "use --mixed-precision no (or auto)",
            PrecisionWarning,
            stacklevel=2,
        )
    return mode
