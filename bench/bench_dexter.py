"""DextER speed and decodability benchmark -> bench/results/dexter.json.

Measures, side by side in one run:
  * grasps/s and per-call latency for the tiny and paper-size configurations (random weights);
  * shared-prefix sampling (one prefill, KV cache repeated over the batch) vs one by one;
  * the decode rate of constrained vs unconstrained sampling on >= 1000 samples
    (a trained model with --model DIR; otherwise the random tiny model).

    python bench/bench_dexter.py                      # CPU, tiny + paper
    python bench/bench_dexter.py --device cuda        # lent GPU
    python bench/bench_dexter.py --configs tiny --decode-samples 1000 --model runs/dexter
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from dexgrasp.dexter.config import DexterConfig
from dexgrasp.dexter.generate import generate_grasps
from dexgrasp.dexter.model import DexterModel
from dexgrasp.grasps.conventions import GRASP_DIM

RESULTS = Path(__file__).resolve().parent / "results" / "dexter.json"


def sphere_points(n: int = 10_000, radius: float = 0.04, seed: int = 0) -> np.ndarray:
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return (d / np.linalg.norm(d, axis=1, keepdims=True) * radius).astype(np.float32)


def random_model(preset: str, device: str, dtype: torch.dtype) -> DexterModel:
    torch.manual_seed(0)
    model = DexterModel.build(DexterConfig.preset(preset, llm_init="scratch"))
    rng = np.random.default_rng(0)
    model.tokenizer.fit(rng.normal(size=(256, GRASP_DIM)), rng.uniform(-0.06, 0.06, (256, 3)))
    return model.to(device=device, dtype=dtype).eval()


def timed(fn, device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def bench_speed(model: DexterModel, n: int, repeats: int, device: str) -> dict:
    """Side by side, interleaved: a shared-prefix batch of n, n one-by-one samples and one
    grasp, with the static-cache decoder (``fast``), and the shared batch and one grasp with
    the transformers decode loop."""
    pts = sphere_points()
    kw = {"temperature": 1.0, "top_p": 0.9}
    cases = {  # name: (batching, samples, fast decoder)
        "shared": ("shared", n, True),
        "sequential": ("sequential", n, True),
        "single": ("shared", 1, True),
        "shared_transformers": ("shared", n, False),
        "single_transformers": ("shared", 1, False),
    }
    times: dict[str, list[float]] = {c: [] for c in cases}
    per_token: dict[str, list[float]] = {c: [] for c in cases}

    def run(case: str, seed: int) -> int:
        batching, k, fast = cases[case]
        out = generate_grasps(model, pts, "grasp the bottle body", n=k, batching=batching,
                              seed=seed, fast=fast, **kw)  # fmt: skip
        assert all(o.ok for o in out)
        return max(len(o.token_ids) for o in out)  # a shared batch runs to its longest answer

    for case in cases:  # warm-up (allocations, kernels, captured graphs)
        run(case, 0)
    for r in range(repeats):
        for case in cases:
            tokens = 0

            def call(case=case, r=r):
                nonlocal tokens
                tokens = run(case, r)

            t = timed(call, device)
            times[case].append(t)
            per_token[case].append(t / tokens)
    med = {c: statistics.median(v) for c, v in times.items()}
    tok = {c: statistics.median(v) for c, v in per_token.items()}
    return {
        "n_per_call": n,
        "repeats": repeats,
        "shared_s": med["shared"],
        "sequential_s": med["sequential"],
        "single_grasp_latency_s": med["single"],
        "per_token_s": tok["single"],
        "grasps_per_s_shared": n / med["shared"],
        "grasps_per_s_sequential": n / med["sequential"],
        "shared_prefix_speedup": med["sequential"] / med["shared"],
        "transformers_loop": {
            "shared_s": med["shared_transformers"],
            "single_grasp_latency_s": med["single_transformers"],
            "per_token_s": tok["single_transformers"],
            "grasps_per_s_shared": n / med["shared_transformers"],
        },
        "fast_decode_speedup_single": tok["single_transformers"] / tok["single"],
        "fast_decode_speedup_shared": tok["shared_transformers"] / tok["shared"],
    }


def bench_decode_rate(
    model: DexterModel, samples: int, batch: int, objects: list[np.ndarray]
) -> dict:
    """Fraction of samples that decode, constrained vs unconstrained (same prompts and seeds)."""
    rows = {}
    for constrained in (True, False):
        ok = total = 0
        t = time.perf_counter()
        i = 0
        while total < samples:
            pts = objects[i % len(objects)]
            out = generate_grasps(model, pts, "grasp the object", n=batch, constrained=constrained,
                                  seed=i, temperature=1.0, top_p=1.0)  # fmt: skip
            ok += sum(o.ok for o in out)
            total += len(out)
            i += 1
        rows["constrained" if constrained else "unconstrained"] = {
            "samples": total,
            "decoded": ok,
            "rate": ok / total,
            "wall_s": time.perf_counter() - t,
        }
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--configs", default="tiny,paper")
    ap.add_argument("-n", type=int, default=8, help="grasps per object")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paper-repeats", type=int, default=1)
    ap.add_argument("--decode-samples", type=int, default=1000)
    ap.add_argument("--model", default=None, help="trained model for the decode-rate test")
    ap.add_argument("--data", default=None, help="grasp dataset (objects for the decode-rate test)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default 1 on CPU)")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    if args.threads or not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads or 1)  # 1 thread: robust on a shared 2-core machine
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    results = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name()
        if args.device.startswith("cuda")
        else platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "dtype": str(dtype),
        "configs": {},
    }
    print(
        f"DextER benchmark on {results['device_name']} ({args.device}, {dtype}, {results['threads']} threads)"
    )
    print(
        f"{'config':8} {'params':>8} {'shared g/s':>11} {'1-by-1 g/s':>11} {'speed-up':>9} "
        f"{'1 grasp s':>10} {'ms/token':>9} {'vs transformers':>16}"
    )
    for name in [c for c in args.configs.split(",") if c]:
        model = random_model(name, args.device, dtype)
        params = sum(p.numel() for p in model.parameters())
        reps = args.repeats if name == "tiny" else args.paper_repeats
        row = {"params": params, **bench_speed(model, args.n, reps, args.device)}
        results["configs"][name] = row
        print(f"{name:8} {params / 1e6:7.1f}M {row['grasps_per_s_shared']:11.2f} "
              f"{row['grasps_per_s_sequential']:11.2f} {row['shared_prefix_speedup']:8.2f}x "
              f"{row['single_grasp_latency_s']:10.3f} {1e3 * row['per_token_s']:9.2f} "
              f"{row['fast_decode_speedup_single']:15.2f}x")  # fmt: skip
        del model
    if args.decode_samples > 0:
        if args.model:
            model = DexterModel.from_pretrained(args.model, device=args.device)
            source = args.model
        else:
            model, source = random_model("tiny", args.device, dtype), "random tiny"
        objects = [sphere_points(seed=s, radius=0.02 + 0.01 * s) for s in range(4)]
        if args.data:
            from dexgrasp.dexter.data import load_grasp_data

            objs, _ = load_grasp_data(args.data, "unseen")
            objects = list(objs.values())[:16]
        rate = bench_decode_rate(model, args.decode_samples, 50, objects)
        results["decode_rate"] = {"model": source, **rate}
        print(f"decode rate ({source}, {args.decode_samples} samples): "
              f"constrained {rate['constrained']['rate']:.1%}, "
              f"unconstrained {rate['unconstrained']['rate']:.1%}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.is_file() else {}
    existing[args.device.split(":")[0]] = results
    out.write_text(json.dumps(existing, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
