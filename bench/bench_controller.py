"""Controller speed: chunk latency (with / without the condition KV cache), training
samples/s (with / without the feature cache), closed-loop controller steps/s.

    python bench/bench_controller.py                       # CPU, fp32, both configs
    python bench/bench_controller.py --device cuda --dtype bf16 --train-batch 48

Writes ``bench/results/controller.json`` (or ``--out``). DINOv2 encoders are built from
their published architectures with random weights (timing does not depend on the weight
values and no weights can be downloaded here). Ratios are measured side by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.vla.controller.configuration import ControllerConfig, EncoderConfig
from dexgrasp.vla.controller.encoders import DinoV2Encoder
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer

DINO = {  # published DINOv2 sizes: (hidden, layers, heads)
    "facebook/dinov2-small": (384, 12, 6),
    "facebook/dinov2-base": (768, 12, 12),
    "facebook/dinov2-large": (1024, 24, 16),
}


def random_dinov2(cfg: EncoderConfig, image_size: int) -> DinoV2Encoder:
    from transformers import Dinov2Config, Dinov2Model

    hidden, layers, heads = DINO[str(cfg.pretrained)]
    model = Dinov2Model(Dinov2Config(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                     intermediate_size=4 * hidden, image_size=image_size, patch_size=14))  # fmt: skip
    return DinoV2Encoder(cfg, model)


def build(config: ControllerConfig, device: str) -> DexGraspVLAController:
    encoders = {}
    for cam in ("head", "wrist"):
        enc = getattr(config, f"{cam}_encoder")
        if enc.kind.startswith("dinov2"):
            encoders[cam] = random_dinov2(enc, config.image_size)
    rng = np.random.default_rng(0)
    norm = Normalizer.from_arrays(rng.normal(size=(100, 13)), rng.normal(size=(100, 13)))
    return DexGraspVLAController(config, norm, encoders=encoders).to(device).eval()


def obs_batch(b: int, size: int, horizon: int = 64) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        OBS_HEAD: torch.randint(0, 256, (b, size, size, 3), dtype=torch.uint8, generator=g),
        OBS_WRIST: torch.randint(0, 256, (b, size, size, 3), dtype=torch.uint8, generator=g),
        OBS_MASK: (torch.rand(b, size, size, generator=g) > 0.8).to(torch.uint8),
        OBS_STATE: torch.randn(b, 13, generator=g),
        ACTION: torch.randn(b, horizon, 13, generator=g),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    return timed_side_by_side({"fn": fn}, device, repeats, warmup=1)["fn"]


def timed_side_by_side(fns: dict, device: str, repeats: int, warmup: int = 3) -> dict:
    """Median seconds of each ``fns[name]()``: ``warmup`` untimed rounds, then ``repeats``
    rounds that run every function once in turn, so that clock ramps, allocator growth and
    machine load fall on all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def chunk_latency(name: str, device: str, dtype: str, repeats: int, warmup: int = 3) -> dict:
    """Encoder time, the 16-step denoising loop with and without the KV cache, and the public
    ``predict_action_chunk`` (cache on; on CUDA also replayed as a CUDA graph), timed side by
    side."""
    config = ControllerConfig.preset(name)
    policy = build(config, device)
    policy.autocast_dtype = torch.bfloat16 if dtype == "bf16" else None
    obs = obs_batch(1, 224 if config.image_size <= 224 else 480)
    auto = torch.autocast(
        device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16"
    )
    with torch.inference_mode(), auto:
        cond = policy.encode_observation(obs)
    out = {"config": name, "device": device, "dtype": dtype, "cond_tokens": config.n_cond_tokens,
           "trainable_params": policy.num_trainable_parameters()}  # fmt: skip
    steps = policy.infer_scheduler.timesteps.to(device)

    def encode():
        with torch.inference_mode(), auto:
            policy.encode_observation(obs)

    def head(cached: bool):
        def run():
            policy.use_kv_cache = cached
            with torch.inference_mode(), auto:
                x = torch.randn(1, config.horizon, config.action_dim, device=device)
                policy._denoise(cond, x, steps)

        return run

    def predict(graph: bool):
        def run():
            policy.use_kv_cache, policy.use_cuda_graph = True, graph
            policy.predict_action_chunk(obs)

        return run

    fns = {"encode_s": encode, "head_cached_s": head(True), "head_uncached_s": head(False),
           "predict_action_chunk_s": predict(False)}  # fmt: skip
    if device.startswith("cuda"):
        try:
            predict(True)()  # captures; a failure is reported, not fatal to the other figures
            fns["predict_action_chunk_cuda_graph_s"] = predict(True)
        except Exception as err:  # noqa: BLE001
            out["cuda_graph_error"] = f"{type(err).__name__}: {err}"
    out.update(timed_side_by_side(fns, device, repeats, warmup))
    out["chunk_cached_s"] = out["encode_s"] + out["head_cached_s"]
    out["chunk_uncached_s"] = out["encode_s"] + out["head_uncached_s"]
    out["head_speedup_from_cache"] = out["head_uncached_s"] / out["head_cached_s"]
    out["chunk_speedup_from_cache"] = out["chunk_uncached_s"] / out["chunk_cached_s"]
    if "predict_action_chunk_cuda_graph_s" in out:
        out["chunk_speedup_from_cuda_graph"] = (
            out["predict_action_chunk_s"] / out["predict_action_chunk_cuda_graph_s"]
        )
    return out


def train_throughput(
    config: ControllerConfig,
    device: str,
    batch: int,
    steps: int,
    cached: bool,
    dtype: str = "fp32",
) -> float:
    """Samples/s of forward+backward+AdamW (fused on CUDA, as training uses it), under bf16
    autocast for ``dtype="bf16"``; ``cached`` feeds precomputed encoder features."""
    policy = build(config, device).train()
    params = [p for p in policy.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=device.startswith("cuda"))
    auto = torch.autocast(
        device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=dtype == "bf16"
    )
    data = obs_batch(batch, config.image_size, config.horizon)
    if cached:
        with torch.inference_mode():
            for cam, key in (("head", OBS_HEAD), ("wrist", OBS_WRIST)):
                enc = getattr(policy, f"{cam}_encoder")
                feats = policy._encode_image(enc, data[key], augment=True)
                data[f"observation.features.{cam}"] = feats.clone().to(torch.float16)
                del data[key]
    data = {k: v.to(device) for k, v in data.items()}

    def step():
        with auto:
            loss, _ = policy(data)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return batch / timed(step, device, steps)


def closed_loop(episodes: int, max_steps: int, ckpt: str | None = None) -> dict:
    """Closed-loop rates of the small preset with random weights, or of a trained checkpoint
    (a palm-space one pays for IK on every executed step)."""
    from dexgrasp.vla.controller.evaluate import evaluate_controller

    if ckpt:
        policy = DexGraspVLAController.from_pretrained(ckpt)
    else:
        policy = build(ControllerConfig.preset("small"), "cpu")
    r = evaluate_controller(policy, "train", episodes=episodes, max_steps=max_steps, progress=False)
    return {"config": ckpt or "small (random weights)",
            "action_space": policy.config.action_space, "steps": episodes * max_steps,
            "controller_steps_per_s": r.controller_steps_per_s, "env_steps_per_s": r.env_steps_per_s,
            "closed_loop_steps_per_s": r.closed_loop_steps_per_s,
            "keeps_up_with_20hz": r.controller_steps_per_s >= 20.0}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--configs", default="small,paper", help="chunk-latency configs ('' skips)")
    p.add_argument("--skip-train", action="store_true", help="skip the training throughput")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--paper-repeats", type=int, default=1, help="repeats for the paper config")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed rounds before the chunk timings (default: 3 on CUDA, 1 on CPU)")  # fmt: skip
    p.add_argument("--train-batch", type=int, default=8)
    p.add_argument("--train-steps", type=int, default=3)
    p.add_argument("--episodes", type=int, default=2, help="closed-loop episodes (0 skips)")
    p.add_argument("--ckpt", action="append", default=[], help="closed loop: also this checkpoint")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "controller.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.manual_seed(0)
    res: dict = {"machine": {"platform": platform.platform(), "torch": torch.__version__,
                             "threads": torch.get_num_threads(), "device": args.device,
                             "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None},
                 "weights": "random (architecture-exact); timing only"}  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:  # after every section, so a cut-off run keeps what it measured
        out.write_text(json.dumps(res, indent=2) + "\n")

    res["chunk_latency"] = []
    for name in filter(None, args.configs.split(",")):
        reps = args.paper_repeats if name == "paper" else args.repeats
        warmup = (
            args.warmup if args.warmup is not None else 3 if args.device.startswith("cuda") else 1
        )
        r = chunk_latency(name, args.device, args.dtype, reps, warmup)
        res["chunk_latency"].append(r)
        print(f"{name:6s} {args.dtype}: encode {r['encode_s']:.3f}s  head cached {r['head_cached_s']:.3f}s "
              f"uncached {r['head_uncached_s']:.3f}s  (x{r['head_speedup_from_cache']:.2f})  "
              f"chunk {r['chunk_cached_s']:.3f}s vs {r['chunk_uncached_s']:.3f}s  "
              f"predict_action_chunk {r['predict_action_chunk_s']:.3f}s"
              + (f" (CUDA graph {r['predict_action_chunk_cuda_graph_s']:.3f}s)"
                 if "predict_action_chunk_cuda_graph_s" in r else ""), flush=True)  # fmt: skip
        write()
    if not args.skip_train:
        # Training throughput: the feature cache matters for frozen encoders (DINOv2-S/14, 224 px).
        frozen = ControllerConfig.preset("small", head_encoder={"kind": "dinov2", "pretrained": "facebook/dinov2-small",
                                                                "feature_dim": 384, "patch_size": 14},
                                         wrist_encoder={"kind": "dinov2", "pretrained": "facebook/dinov2-small",
                                                        "feature_dim": 384, "patch_size": 14})  # fmt: skip
        tr = {"batch": args.train_batch, "device": args.device, "dtype": args.dtype}
        run = (args.device, args.train_batch, args.train_steps)
        tr["dinov2s_frozen_images_samples_per_s"] = train_throughput(
            frozen, *run, False, args.dtype
        )
        tr["dinov2s_frozen_feature_cache_samples_per_s"] = train_throughput(
            frozen, *run, True, args.dtype
        )
        tr["feature_cache_speedup"] = (
            tr["dinov2s_frozen_feature_cache_samples_per_s"]
            / tr["dinov2s_frozen_images_samples_per_s"]
        )
        tr["small_conv_samples_per_s"] = train_throughput(
            ControllerConfig.preset("small"), *run, False, args.dtype
        )
        if "paper" in args.configs and args.device.startswith("cuda"):
            sps = train_throughput(ControllerConfig.preset("paper"), *run, True, args.dtype)
            tr["paper_feature_cache_step_s"] = args.train_batch / sps
        res["training"] = tr
        write()
        print(
            "training samples/s:",
            {k: round(v, 2) if isinstance(v, float) else v for k, v in tr.items()},
            flush=True,
        )
    if args.episodes > 0:
        res["closed_loop"] = [closed_loop(args.episodes, 60, c) for c in [None, *args.ckpt]]
        print("closed loop:", res["closed_loop"], flush=True)
    write()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
