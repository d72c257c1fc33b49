"""Captured CUDA graphs for the inference loops that are bound by kernel launches.

At batch 1 (the controller's chunk) or a handful of samples (DextER's grasps), a GPU spends
more time waiting for Python to launch small kernels than running them. A CUDA graph records
a function's kernels once, for fixed input buffers, and replays them with one launch.

:class:`GraphCache` captures a function once per input shape and setting and replays it
afterwards. Its users: the controller's whole chunk, encoders and denoising loop
(``DexGraspVLAController``, ``use_cuda_graph``) and DextER's one-token decode step
(``dexgrasp.dexter.fast_decode``).

Rules for a captured function: no host synchronisation (``.item()``, ``.tolist()``, Python
branches on tensor values), no host-to-device copies, and only device tensors made before the
capture or inside it. Autocast's weight-cast cache is off while capturing, so the recorded
casts are redone on every replay instead of being read from memory outside the graph's pool.
Replays run the same kernels on the same inputs as the eager function, so they give its
numbers; ``tests/controller/test_cuda_graph.py`` checks that where a GPU is present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class _Captured:
    graph: Any  # torch.cuda.CUDAGraph
    inputs: tuple[torch.Tensor, ...]  # static input buffers, refilled before every replay
    out: torch.Tensor  # static output, overwritten by every replay
    keep: Any  # the captured function (and the device tensors it closes over) stay alive


class GraphCache:
    """Captured graphs of functions ``fn(*inputs) -> tensor``, one per (input shapes and
    dtypes, ``key``). ``key`` must name everything besides the inputs that changes what ``fn``
    computes (settings, the weights' addresses). Call :meth:`clear` to free the graphs."""

    def __init__(self, warmup: int = 2) -> None:
        self.warmup = warmup
        self._graphs: dict[tuple, _Captured] = {}

    def __len__(self) -> int:
        return len(self._graphs)

    def clear(self) -> None:
        self._graphs.clear()

    def __call__(
        self,
        fn: Callable[..., torch.Tensor],
        inputs: tuple[torch.Tensor, ...],
        key: tuple = (),
        autocast_dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """``fn(*inputs)``, replayed from a graph (captured on the first call of its kind)."""
        if any(x.device.type != "cuda" for x in inputs):
            raise ValueError(
                f"CUDA graphs need CUDA tensors, got inputs on {[str(x.device) for x in inputs]}"
            )
        full_key = (inputs[0].device, *((tuple(x.shape), x.dtype) for x in inputs), *key)
        with torch.cuda.device(inputs[0].device):  # the inputs' GPU, not the current one
            entry = self._graphs.get(full_key)
            if entry is None:
                entry = self._graphs[full_key] = self._capture(fn, inputs, autocast_dtype)
            for static, x in zip(entry.inputs, inputs, strict=True):
                static.copy_(x)
            entry.graph.replay()
            return entry.out.clone()

    def _capture(self, fn, inputs, autocast_dtype) -> _Captured:
        device = inputs[0].device
        static = tuple(x.clone() for x in inputs)
        autocast = torch.autocast(
            device_type="cuda",
            dtype=autocast_dtype or torch.float32,
            enabled=autocast_dtype is not None,
            cache_enabled=False,
        )
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side), autocast:  # warm-up: lazy inits happen outside the graph
            for _ in range(self.warmup):
                fn(*static)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), autocast:
            out = fn(*static)
        return _Captured(graph, static, out, fn)
