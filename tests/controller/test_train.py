"""Training: overfitting a tiny batch, exact resume, and a 2-process gloo step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dexgrasp.constants import ACTION
from dexgrasp.vla.controller.configuration import TrainConfig
from dexgrasp.vla.controller.modeling import DexGraspVLAController
from dexgrasp.vla.controller.normalize import Normalizer
from dexgrasp.vla.controller.train import train_controller

from .conftest import tiny_config
from .test_model import make_batch


def test_overfitting_a_tiny_batch_reproduces_its_actions():
    """Two samples with different observations: the sampled chunks must match their actions.

    Uses x0 ("sample") prediction, which memorises in a few hundred steps at this tiny width;
    epsilon prediction (the paper's) goes through the same scheduler and sampler code.
    """
    torch.manual_seed(0)
    batch = make_batch(2)
    ramp = torch.linspace(0, 1, 16)[None, :, None]
    batch[ACTION] = (
        torch.stack([torch.linspace(-1, 1, 13), torch.linspace(1, -1, 13)])[:, None] * ramp
    )
    norm = Normalizer.from_arrays(
        batch["observation.state"].numpy(), batch[ACTION].reshape(-1, 13).numpy()
    )
    policy = DexGraspVLAController(tiny_config(attn_dropout=0.0, prediction_type="sample"), norm)
    opt = torch.optim.AdamW(policy.parameters(), lr=2e-3, weight_decay=0.0)
    for _ in range(OVERFIT_STEPS):
        loss, _ = policy(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    pred = policy.predict_action_chunk(batch, generator=torch.Generator().manual_seed(0))
    err = (pred - batch[ACTION]).abs()
    assert err.mean() < 0.1 * batch[ACTION].abs().mean(), float(err.mean())
    assert err.max() < 0.5, float(err.max())


OVERFIT_STEPS = 250


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_resume_continues_exactly(tmp_path, tiny_store):
    cfg = tiny_config()
    tc = TrainConfig(
        batch_size=8, epochs=3, warmup_steps=2, checkpoint_every=2, log_every=1, ema=True
    )
    train_controller(tiny_store, tmp_path / "straight", cfg, tc, progress=False)
    train_controller(tiny_store, tmp_path / "split", cfg, tc, progress=False, stop_after=5)
    assert json.loads((tmp_path / "split/state/train_state.json").read_text())["step"] == 5
    train_controller(tiny_store, tmp_path / "split", cfg, tc, progress=False)  # resumes at step 5
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0, msg=k)
    logs = [
        (tmp_path / d / "train_log.jsonl").read_text().splitlines() for d in ("straight", "split")
    ]
    steps = [json.loads(ln)["step"] for ln in logs[1]]
    assert steps == list(range(1, 19)) and len(logs[0]) == 18  # 3 epochs x (52 // 8) batches
    losses = [[json.loads(ln)["loss"] for ln in lines] for lines in logs]
    assert losses[0] == losses[1]
    DexGraspVLAController.from_pretrained(tmp_path / "split")


@pytest.mark.slow
def test_two_process_gloo_training_step(tmp_path, tiny_store):
    """`torchrun` with 2 CPU processes runs the CLI's training: accelerate DDP over gloo.

    (``accelerate launch --cpu`` starts a single process unless MPI is set up; on GPUs the
    documented path is ``accelerate launch --multi_gpu``.)
    """
    (tmp_path / "cfg.json").write_text(json.dumps(tiny_config().to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "dexgrasp.cli", "train", "controller", "--data", str(tiny_store),
        "--out", str(tmp_path / "ddp"), "--config", str(tmp_path / "cfg.json"),
        "--batch-size", "4", "--max-steps", "3", "--log-every", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = (tmp_path / "ddp" / "train_log.jsonl").read_text().splitlines()
    records = [json.loads(ln) for ln in log]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(r["processes"] == 2 for r in records)
    DexGraspVLAController.from_pretrained(tmp_path / "ddp")


def test_init_from_starts_at_the_checkpoint_and_keeps_its_statistics(tmp_path, tiny_store):
    cfg = tiny_config()
    tc = TrainConfig(batch_size=8, epochs=1, warmup_steps=1, log_every=1)
    src = train_controller(tiny_store, tmp_path / "src", cfg, tc, progress=False)
    ft = TrainConfig(batch_size=8, epochs=1, max_steps=1, lr=1e-12, warmup_steps=0,
                     log_every=1, init_from=str(src))  # fmt: skip
    # On other episodes: fitting would give other statistics, fine-tuning keeps the source's.
    train_controller(tiny_store, tmp_path / "ft", cfg, ft, episodes=[0], progress=False)
    a, b = _weights(src), _weights(tmp_path / "ft")
    assert a.keys() == b.keys()
    for k in a:  # one step at a negligible learning rate: still the source's weights
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0, msg=k)
    assert (src / "normalization.json").read_text() == (
        tmp_path / "ft/normalization.json"
    ).read_text()
    with pytest.raises(ValueError, match="does not fit this config"):
        train_controller(tiny_store, tmp_path / "bad", tiny_config(hidden_dim=64), ft,
                         progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="action_mode='absolute'"):
        train_controller(tiny_store, tmp_path / "bad", tiny_config(action_mode="relative"), ft,
                         progress=False)  # fmt: skip
