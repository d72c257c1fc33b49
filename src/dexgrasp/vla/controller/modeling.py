"""The DexGraspVLA controller policy (LeRobot-style API).

Example::

    from dexgrasp.vla.controller import DexGraspVLAController
    policy = DexGraspVLAController.from_pretrained("path/to/ckpt")   # or the shipped one
    policy.reset()
    obs, _ = env.reset(seed=0)
    while True:
        action = policy.select_action(obs)        # (13,) absolute joint targets, radians
        obs, _, terminated, truncated, info = env.step(action.numpy())
        if terminated or truncated:
            break

Inputs (LeRobot keys from ``dexgrasp.constants``): ``observation.images.head`` and
``observation.images.wrist`` (B, H, W, 3) uint8, ``observation.mask`` (B, H, W) {0, 1},
``observation.state`` (B, 13) radians; training batches add ``action`` (B, 64, 13) and may
carry cached frozen-encoder features ``observation.features.head|wrist`` (B, L, D) instead of
images. Unbatched numpy observations straight from the env are accepted too.
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dexgrasp.constants import ACTION, OBS_HEAD, OBS_MASK, OBS_STATE, OBS_WRIST
from dexgrasp.cuda_graph import GraphCache
from dexgrasp.vla.controller.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dexgrasp.vla.controller.configuration import ConfigError, ControllerConfig
from dexgrasp.vla.controller.diffusion import (
    coherent,
    immiscible_noise,
    make_inference_scheduler,
    make_train_scheduler,
    medoid,
)
from dexgrasp.vla.controller.dit import DiT
from dexgrasp.vla.controller.encoders import (
    ConvPatchEncoder,
    ImageEncoder,
    build_encoder,
    color_jitter,
    imagenet_normalize,
    images_to_float,
    resize,
)
from dexgrasp.vla.controller.mask_vit import MaskViT
from dexgrasp.vla.controller.modes import (
    FINAL_ACTION,
    GRASP_MODE,
    GraspModeMixin,
    ModeClassifier,
    mode_features,
)
from dexgrasp.vla.controller.normalize import Normalizer
from dexgrasp.vla.controller.target import (
    ANCHOR_FEATURES,
    ANCHOR_GEOMETRY,
    MASK_GEOMETRY_DIM,
    batch_anchor,
    crop_target,
    mask_geometry,
    shift_positions,
)

FEAT_HEAD = "observation.features.head"  # (B, L_head, D_head) cached frozen-encoder features
FEAT_WRIST = "observation.features.wrist"
PALM_STATE = "observation.palm_state"  # (B, A') palm pose of the state (palm-space models)
# What one chunk is predicted from, in a fixed order (the CUDA graph's inputs).
CHUNK_INPUTS = (
    OBS_HEAD, OBS_WRIST, OBS_MASK, OBS_STATE, FEAT_HEAD, FEAT_WRIST, PALM_STATE, GRASP_MODE,
    ANCHOR_GEOMETRY,
)  # fmt: skip


def _batched(value: Any, unbatched: bool) -> torch.Tensor:
    """An observation entry (tensor or array) as a tensor with a batch dim."""
    v = value if torch.is_tensor(value) else torch.as_tensor(np.ascontiguousarray(value))
    return v[None] if unbatched else v


def _mlp(din: int, dout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, dout), nn.GELU(), nn.Linear(dout, dout))


class DexGraspVLAController(GraspModeMixin, nn.Module):
    """Mask ViT + per-stream MLPs + DiT noise predictor over 64-step action chunks."""

    def __init__(
        self,
        config: ControllerConfig,
        normalizer: Normalizer | None = None,
        encoders: dict[str, ImageEncoder] | None = None,
    ) -> None:
        super().__init__()
        self.config = cfg = config
        encoders = encoders or {}
        self.head_encoder = encoders.get("head") or build_encoder(cfg.head_encoder, cfg.image_size)
        self.wrist_encoder = encoders.get("wrist") or build_encoder(
            cfg.wrist_encoder, cfg.image_size
        )
        self.mask_vit = MaskViT(
            cfg.image_size, cfg.head_encoder.patch_size, cfg.mask_vit_dim, cfg.mask_vit_depth,
            cfg.mask_vit_heads,
        )  # fmt: skip
        d = cfg.hidden_dim
        self.head_proj = _mlp(cfg.head_encoder.feature_dim + cfg.mask_vit_dim, d)
        self.wrist_proj = _mlp(cfg.wrist_encoder.feature_dim, d)
        self.state_proj = _mlp(cfg.state_dim, d)
        # Absolute palm-space models also see the palm pose of the measured joints, normalised
        # like their actions (a relative model is anchored to it already).
        self.palm_state_proj = None
        if cfg.action_space == "palm" and cfg.action_mode == "absolute":
            self.palm_state_proj = _mlp(cfg.model_action_dim, d)
        if cfg.action_anchor == "mask":  # fitted by training (target.fit_anchor_calibration)
            self.register_buffer("anchor_calib", torch.zeros(ANCHOR_FEATURES, 3))
        self.geometry_proj = None
        if cfg.mask_geometry:
            self.geometry_proj = _mlp(MASK_GEOMETRY_DIM, d)
            nn.init.zeros_(self.geometry_proj[-1].weight)  # starts as "no information"
            nn.init.zeros_(self.geometry_proj[-1].bias)
        self.crop_encoder = self.crop_proj = None
        if cfg.target_crop:
            self.crop_encoder = ConvPatchEncoder(cfg.head_encoder, in_channels=4)
            self.crop_proj = _mlp(cfg.head_encoder.feature_dim, d)
        self.mode_embed = self.mode_classifier = None
        if cfg.grasp_modes:
            n_feat = mode_features(torch.zeros(cfg.model_action_dim), cfg.action_space).numel()
            self.register_buffer("mode_centroids", torch.zeros(cfg.grasp_modes, n_feat))
            self.register_buffer("mode_lo", torch.zeros(n_feat))
            self.register_buffer("mode_hi", torch.ones(n_feat))
            self.mode_embed = nn.Embedding(cfg.grasp_modes, d)
            nn.init.zeros_(self.mode_embed.weight)  # starts as "no information", like geometry
            self.mode_classifier = ModeClassifier(d, cfg.grasp_modes, cfg.dit_heads)
        self.dit = DiT(
            cfg.model_action_dim, cfg.horizon, cfg.n_obs_tokens, d, cfg.dit_layers, cfg.dit_heads,
            cfg.dit_mlp_ratio, cfg.attn_dropout, cfg.dropout,
        )  # fmt: skip
        self.normalizer = normalizer
        self.train_scheduler = make_train_scheduler(cfg)
        self.infer_scheduler = make_inference_scheduler(cfg)
        self.use_kv_cache = True
        # Inference autocast: "auto" = bf16 on CUDA, none elsewhere; None = fp32 everywhere.
        self.autocast_dtype: torch.dtype | str | None = "auto"
        # On CUDA in eval mode: replay each chunk (encoders and denoising loop) as one captured
        # graph (dexgrasp.cuda_graph); False runs it eagerly.
        self.use_cuda_graph = True
        self._graphs = GraphCache()
        self._queue: deque[torch.Tensor] = deque()
        self._plan: torch.Tensor | None = None  # last chunk, model space (warm start, coherent)
        self._noise: torch.Tensor | None = None  # the episode's initial noise (episode_noise)
        self._mode: torch.Tensor | None = None  # the episode's grasp mode (grasp_modes)
        self._anchor_geometry: torch.Tensor | None = None  # mask geometry (action_anchor)
        self._kinematics = None  # PalmKinematics, built on first use (action_space="palm")

    # ---- bookkeeping ------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.dit.action_in.weight.device

    def frozen_prefixes(self) -> tuple[str, ...]:
        """State-dict prefixes of frozen foundation encoders (never stored in checkpoints)."""
        out = []
        if self.config.head_encoder.frozen:
            out.append("head_encoder.")
        if self.config.wrist_encoder.frozen:
            out.append("wrist_encoder.")
        return tuple(out)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def _require_normalizer(self) -> Normalizer:
        if self.normalizer is None:
            raise CheckpointError(
                "the controller has no normalisation statistics; fit them on the training "
                "data (Normalizer.fit / `dexgrasp train controller`) or load a checkpoint"
            )
        return self.normalizer

    # ---- observation encoding --------------------------------------------------------------
    def _encode_image(self, encoder: ImageEncoder, images: torch.Tensor, augment: bool):
        x = resize(images_to_float(images.to(self.device)), self.config.image_size)
        if augment:
            x = self._jitter(x)
        return encoder(imagenet_normalize(x))

    def encode_observation(self, batch: dict[str, Any], augment: bool = False) -> torch.Tensor:
        """Observation tokens (B, Lo, hidden_dim): head+mask, wrist, state (2739 at paper scale).
        With ``grasp_modes``, the state token carries the mode: ``batch[GRASP_MODE]`` or the
        classifier's most likely one."""
        tokens = self._observation_tokens(batch, augment)
        if self.mode_embed is None:
            return tokens
        mode = batch.get(GRASP_MODE)
        if mode is None:
            mode = self.mode_classifier(tokens).argmax(-1)
        return self._with_mode(tokens, mode.to(self.device).long())

    def _with_mode(self, tokens: torch.Tensor, mode: torch.Tensor) -> torch.Tensor:
        """Add the mode embedding to the state token (the last observation token)."""
        state = tokens[:, -1:] + self.mode_embed(mode)[:, None].to(tokens.dtype)
        return torch.cat([tokens[:, :-1], state], dim=1)

    def _observation_tokens(self, batch: dict[str, Any], augment: bool = False) -> torch.Tensor:
        norm = self._require_normalizer()
        state = norm.normalize(OBS_STATE, batch[OBS_STATE].to(self.device).float())
        if FEAT_HEAD in batch:
            head = batch[FEAT_HEAD].to(self.device)
        else:
            head = self._encode_image(self.head_encoder, batch[OBS_HEAD], augment)
        if FEAT_WRIST in batch:
            wrist = batch[FEAT_WRIST].to(self.device)
        else:
            wrist = self._encode_image(self.wrist_encoder, batch[OBS_WRIST], augment)
        mask = batch[OBS_MASK].to(self.device)
        if mask.ndim != 3:
            raise ValueError(f"{OBS_MASK} must be (B, H, W), got {tuple(mask.shape)}")
        state_token = self.state_proj(state)
        if self.palm_state_proj is not None:
            palm = batch.get(PALM_STATE)  # precomputed by inference (host-side kinematics)
            if palm is None:
                palm = self._to_model_space(batch[OBS_STATE].float())
            palm = shift_positions(palm.to(self.device).float(), self.target_anchor(batch), -1)
            state_token = state_token + self.palm_state_proj(norm.normalize(ACTION, palm))
        geometry = None
        if self.geometry_proj is not None or self.crop_encoder is not None:
            geometry = mask_geometry(mask)
        if self.geometry_proj is not None:
            state_token = state_token + self.geometry_proj(geometry)
        crop = None
        if self.crop_encoder is not None:
            crop = self._encode_crop(batch, mask, geometry, augment)
        mask = resize((mask > 0).float()[:, None], self.config.image_size)
        mask_tokens = self.mask_vit(mask)
        head = head.to(mask_tokens.dtype)
        tokens = [
            self.head_proj(torch.cat([head, mask_tokens], dim=-1)),
            self.wrist_proj(wrist.to(mask_tokens.dtype)),
        ]
        if crop is not None:
            tokens.append(self.crop_proj(crop.to(mask_tokens.dtype)))
        tokens.append(state_token[:, None])
        return torch.cat(tokens, dim=1)

    def _jitter(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        return color_jitter(
            x, c.jitter_brightness, c.jitter_contrast, c.jitter_saturation, c.jitter_hue
        )

    def _encode_crop(
        self, batch: dict[str, Any], mask: torch.Tensor, geometry: torch.Tensor, augment: bool
    ) -> torch.Tensor:
        """Target-crop tokens (B, (target_crop / patch)^2, feature_dim) from the full-resolution
        head image (``target_crop``)."""
        c = self.config
        if OBS_HEAD not in batch:
            raise ValueError(
                f"target_crop needs the head image ({OBS_HEAD}) in the batch, not only cached "
                "features"
            )
        x = crop_target(
            images_to_float(batch[OBS_HEAD].to(self.device)), mask, c.target_crop,
            c.target_crop_context, c.target_crop_min, geometry,
        )  # fmt: skip
        rgb = self._jitter(x[:, :3]) if augment else x[:, :3]
        return self.crop_encoder(torch.cat([imagenet_normalize(rgb), x[:, 3:]], dim=1))

    # ---- training ----------------------------------------------------------------------------
    def forward(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Diffusion loss on a batch with ``action`` (B, H, A). Returns (loss, info)."""
        norm = self._require_normalizer()
        cfg = self.config
        actions = batch[ACTION].float()
        if actions.shape[1:] != (cfg.horizon, cfg.action_dim):
            raise ValueError(
                f"{ACTION} must be (B, {cfg.horizon}, {cfg.action_dim}), got {tuple(actions.shape)}"
            )
        actions = self._to_model_space(actions)
        if cfg.action_mode == "relative":
            actions = actions - self._to_model_space(batch[OBS_STATE].float())[:, None]
        actions = norm.normalize(ACTION, shift_positions(actions, self.target_anchor(batch), -1))
        obs = self._observation_tokens(batch, augment=self.training)
        info = {}
        mode_loss = 0.0
        if self.mode_embed is not None:
            if FINAL_ACTION not in batch:
                raise KeyError(
                    f"grasp_modes needs {FINAL_ACTION!r} in training batches (ControllerDataset "
                    "provides it)"
                )
            mode = self.grasp_mode_of(batch[FINAL_ACTION].float())
            logits = self.mode_classifier(obs.detach()).float()
            mode_loss = F.cross_entropy(logits, mode)
            info["mode_loss"] = float(mode_loss.detach())
            info["mode_acc"] = float((logits.argmax(-1) == mode).float().mean())
            obs = self._with_mode(obs, mode)
        b = actions.shape[0]
        noise = immiscible_noise(actions) if self.config.immiscible else torch.randn_like(actions)
        t = torch.randint(0, self.config.num_train_timesteps, (b,), device=self.device)
        noisy = self.train_scheduler.add_noise(actions, noise, t)
        pred = self.dit(noisy, t, obs).float()
        if self.config.prediction_type == "epsilon":
            target = noise
        elif self.config.prediction_type == "sample":
            target = actions
        else:
            target = self.train_scheduler.get_velocity(actions, noise, t)
        loss = F.mse_loss(pred, target)
        info["diffusion_loss"] = float(loss.detach())
        loss = loss + self.config.mode_loss_weight * mode_loss
        return loss, {"loss": float(loss.detach()), **info}

    # ---- action space ------------------------------------------------------------------------
    def target_anchor(self, batch: dict[str, Any]) -> torch.Tensor | None:
        """(B, 3) where palm positions are measured from (``action_anchor="mask"``): the
        calibrated place of ``ANCHOR_GEOMETRY`` if the batch holds it (training: the episode's
        first frame; ``select_action``: its first chunk), else of the batch's own mask."""
        if self.config.action_anchor == "none":
            return None
        return batch_anchor(batch, self.anchor_calib)

    @property
    def kinematics(self):
        """Palm-space kinematics (``action_space="palm"``), built on first use."""
        if self._kinematics is None:
            from dexgrasp.vla.controller.kinematics import PalmKinematics

            self._kinematics = PalmKinematics()
        return self._kinematics

    def _to_model_space(self, joints: torch.Tensor) -> torch.Tensor:
        """(..., 13) joint values -> what the diffusion head predicts, on ``self.device``."""
        if self.config.action_space == "palm":
            palm = self.kinematics.to_palm(joints.detach().cpu().numpy())
            joints = torch.from_numpy(palm).float()
        return joints.to(self.device)

    def _model_chunk(
        self,
        obs: dict[str, Any],
        generator: torch.Generator | None = None,
        prior: torch.Tensor | None = None,
        plan: torch.Tensor | None = None,
    ):
        """One denoised chunk in the model's action space (absolute, unnormalised), float32,
        with the batch it was predicted from. ``prior`` (B, H, A), in the same space: warm
        start from it (``warm_start_steps`` DDIM steps) instead of from pure noise. ``plan``
        (B, H, A), in the same space: the chunk chosen ``n_action_steps`` earlier, which
        ``sample_select="coherent"`` continues."""
        batch, _ = self._to_batch(obs)
        dev = self.device
        dtype = self.inference_dtype
        k = self.config.num_samples
        if self.palm_state_proj is not None:  # forward kinematics on the host, outside graphs
            batch[PALM_STATE] = self._to_model_space(batch[OBS_STATE].float())
        names = tuple(key for key in CHUNK_INPUTS if key in batch)
        b = batch[OBS_STATE].shape[0] * k
        shape = (b, self.config.horizon, self.config.model_action_dim)
        if not self.config.episode_noise:
            noise = torch.randn(shape, generator=generator, device="cpu")
        else:  # drawn on the episode's first chunk, then reused: one sampler path per episode
            if self._noise is None or self._noise.shape != shape:
                self._noise = torch.randn(shape, generator=generator, device="cpu")
            noise = self._noise.clone()
        timesteps = self.infer_scheduler.timesteps
        if prior is None:
            noise = noise * self.config.noise_scale
        else:
            timesteps = timesteps[len(timesteps) - self.config.warm_start_steps :]
            if prior.shape != (batch[OBS_STATE].shape[0], *shape[1:]):
                raise ValueError(
                    f"warm-start prior {tuple(prior.shape)} does not fit this batch "
                    f"({batch[OBS_STATE].shape[0]}, *{shape[1:]}); call reset() between episodes"
                )
            prior = self._normalized_chunk(prior, batch).cpu()
            noise = self.infer_scheduler.add_noise(
                prior.repeat_interleave(k, dim=0), noise, timesteps[:1]
            )
        inputs = (*(batch[key].to(dev) for key in names), noise.to(dev))
        steps = timesteps.to(dev)

        def chunk(*tensors: torch.Tensor) -> torch.Tensor:
            """Observation tensors (``names``) and noise -> normalised chunk (B * k, H, A)."""
            cond = self.encode_observation(dict(zip(names, tensors[:-1], strict=True)))
            if k > 1:  # k noise draws per observation, sharing its encoding
                cond = cond.repeat_interleave(k, dim=0)
            return self._denoise(cond, tensors[-1], steps)

        if self.use_cuda_graph and dev.type == "cuda" and not self.training:
            weights = self.dit.action_in.weight.data_ptr()  # a moved model captures anew
            key = (names, k, self.use_kv_cache, tuple(timesteps.tolist()), weights)
            x = self._graphs(chunk, inputs, key, dtype)
        else:
            with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                x = chunk(*inputs)
        if k > 1:
            x = x.float().unflatten(0, (-1, k))
            if self.config.sample_select == "coherent" and plan is not None:
                x = coherent(x, self._normalized_chunk(plan, batch), self.config.n_action_steps)
            else:
                x = medoid(x)
        actions = self._require_normalizer().unnormalize(ACTION, x.float())
        if self.config.action_mode == "relative":
            actions = actions + self._to_model_space(batch[OBS_STATE].float())[:, None]
        return shift_positions(actions, self.target_anchor(batch), 1), batch

    def _normalized_chunk(self, chunk: torch.Tensor, batch: dict[str, Any]) -> torch.Tensor:
        """(B, H, A) absolute model-space actions -> the normalised space the head denoises in
        for this ``batch`` (relative to its state, shifted by its anchor), on ``self.device``."""
        chunk = chunk.float().to(self.device)
        if self.config.action_mode == "relative":
            chunk = chunk - self._to_model_space(batch[OBS_STATE].float())[:, None]
        chunk = shift_positions(chunk, self.target_anchor(batch), -1)
        return self._require_normalizer().normalize(ACTION, chunk)

    @property
    def inference_dtype(self) -> torch.dtype | None:
        """The autocast dtype inference runs under (None: fp32), from ``autocast_dtype``."""
        if self.autocast_dtype == "auto":
            return torch.bfloat16 if self.device.type == "cuda" else None
        if self.autocast_dtype is not None and not isinstance(self.autocast_dtype, torch.dtype):
            raise ConfigError(
                f"autocast_dtype={self.autocast_dtype!r}: expected 'auto', None or a torch dtype"
            )
        return self.autocast_dtype

    def _denoise(self, cond: torch.Tensor, x: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
        """DDIM from noise ``x`` (B, H, A) to a normalised chunk, conditioned on ``cond``;
        ``steps``: the scheduler's last ``len(steps)`` timesteps on the model's device."""
        cache = self.dit.build_cache(cond) if self.use_kv_cache else None
        b = x.shape[0]
        host = self.infer_scheduler.timesteps[len(self.infer_scheduler.timesteps) - len(steps) :]
        for t, t_dev in zip(host, steps, strict=True):
            tt = t_dev.expand(b)
            eps = (
                self.dit.forward_cached(x, tt, cache)
                if cache is not None
                else self.dit(x, tt, cond)
            )
            x = self.infer_scheduler.step(eps.float(), t, x).prev_sample
        return x

    INFERENCE_FIELDS = (
        "n_action_steps",
        "num_inference_steps",
        "num_samples",
        "warm_start_steps",
        "noise_scale",
        "sample_select",
        "episode_noise",
    )

    def set_inference(self, **fields: Any) -> None:
        """Change how a loaded policy infers (``INFERENCE_FIELDS``), validated like the config;
        clears the action queue."""
        bad = sorted(set(fields) - set(self.INFERENCE_FIELDS))
        if bad:
            raise ConfigError(f"{bad} cannot change at inference: only {self.INFERENCE_FIELDS}")
        self.config = dataclasses.replace(self.config, **fields)
        self.infer_scheduler = make_inference_scheduler(self.config)
        self.reset()

    def _to_joints(self, chunk: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """(B, T, A') model-space actions -> (B, T, 13) joint targets (IK from ``state``)."""
        if self.config.action_space != "palm":
            return chunk
        palm, start = chunk.cpu().numpy(), state.float().cpu().numpy()
        joints = [self.kinematics.to_joints(p, s) for p, s in zip(palm, start, strict=True)]
        return torch.from_numpy(np.stack(joints)).float().to(chunk.device)

    # ---- inference ---------------------------------------------------------------------------
    def _to_batch(self, obs: dict[str, Any]) -> tuple[dict[str, torch.Tensor], bool]:
        """Tensors with a batch dim; also says whether the input was unbatched (env style)."""
        if OBS_STATE not in obs:
            raise KeyError(f"observation is missing {OBS_STATE!r}")
        unbatched = np.ndim(obs[OBS_STATE]) == 1
        out = {}
        for key in (*CHUNK_INPUTS[:6], GRASP_MODE, ANCHOR_GEOMETRY):
            if key not in obs:
                continue
            out[key] = _batched(obs[key], unbatched)
        for key in (
            (OBS_MASK,)
            + ((OBS_HEAD,) if FEAT_HEAD not in out else ())
            + ((OBS_WRIST,) if FEAT_WRIST not in out else ())
        ):
            if key not in out:
                raise KeyError(f"observation is missing {key!r}")
        return out, unbatched

    @torch.inference_mode()
    def predict_action_chunk(
        self, obs: dict[str, Any], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Denoise one chunk: (B, H, A) absolute joint targets (unnormalised), float32.

        Uses the condition key/value cache when ``self.use_kv_cache``, autocast to
        :attr:`inference_dtype` (bf16 on CUDA unless ``autocast_dtype`` says otherwise) and, on
        CUDA, a captured graph when ``self.use_cuda_graph``. A palm-space model's chunk is
        solved to joints step by step from the measured state.
        """
        chunk, batch = self._model_chunk(obs, generator)
        return self._to_joints(chunk, batch[OBS_STATE])

    @torch.inference_mode()
    def select_action(self, obs: dict[str, Any], generator: torch.Generator | None = None):
        """Next action from the queue, refilled with the first ``n_action_steps`` of a new chunk.

        Returns (B, A) for batched input, (A,) for an unbatched env observation.
        """
        unbatched = np.ndim(obs[OBS_STATE]) == 1
        if not self._queue:
            n = self.config.n_action_steps
            prior, plan = None, self._plan
            if self.config.warm_start_steps and plan is not None:
                # what is left of the last chunk, held at its final action to full length
                prior = torch.cat([plan[:, n:], plan[:, -1:].expand(-1, n, -1)], dim=1)
            if self.mode_embed is not None and GRASP_MODE not in obs:
                if self._mode is None:  # chosen on the episode's first chunk, then kept
                    self._mode = self.predict_grasp_mode(obs)
                obs = {**obs, GRASP_MODE: self._mode[0] if unbatched else self._mode}
            if self.config.action_anchor != "none" and ANCHOR_GEOMETRY not in obs:
                if self._anchor_geometry is None:  # read on the episode's first chunk, then kept
                    self._anchor_geometry = mask_geometry(_batched(obs[OBS_MASK], unbatched))
                geo = self._anchor_geometry
                obs = {**obs, ANCHOR_GEOMETRY: geo[0] if unbatched else geo}
            chunk, batch = self._model_chunk(obs, generator, prior, plan)
            keep = self.config.warm_start_steps or self.config.sample_select == "coherent"
            self._plan = chunk if keep else None
            chunk = self._to_joints(chunk[:, :n], batch[OBS_STATE])  # IK for executed steps
            self._queue.extend(chunk.transpose(0, 1))
        action = self._queue.popleft()
        return action[0] if unbatched else action

    def reset(self) -> None:
        """Clear the action queue, the plan a warm start continues and the episode's grasp
        mode (call at the start of every episode)."""
        self._queue.clear()
        self._plan = None
        self._noise = None
        self._mode = None
        self._anchor_geometry = None

    # ---- checkpoints ---------------------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """State dict without frozen foundation weights (what a checkpoint stores)."""
        skip = self.frozen_prefixes()
        return {k: v for k, v in self.state_dict().items() if not k.startswith(skip)}

    def save_pretrained(
        self, directory: str | Path, weights_dtype: torch.dtype | None = None
    ) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``normalization.json``
        (``dexgrasp.vla.controller.checkpoint.save_checkpoint``).

        ``weights_dtype`` (e.g. ``torch.float16``) stores floating-point weights in that type
        (half the size; loading casts them back to the model's dtype)."""
        return save_checkpoint(self, directory, weights_dtype)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        device: str | torch.device = "cpu",
        encoder_paths: dict[str, str] | None = None,
        encoders: dict[str, ImageEncoder] | None = None,
    ) -> DexGraspVLAController:
        """Load a checkpoint directory; frozen encoders come from their hub id / local path
        (``dexgrasp.vla.controller.checkpoint.load_checkpoint``).

        encoder_paths: ``{"head": DIR, "wrist": DIR}`` overrides the stored DINOv2 locations.
        Raises ``CheckpointError`` naming what is missing or does not match.
        """
        return load_checkpoint(cls, directory, device, encoder_paths, encoders)

    def describe(self) -> str:
        """One line with the parameter counts, for logs."""
        total = sum(p.numel() for p in self.parameters())
        return json.dumps(
            {"trainable_params": self.num_trainable_parameters(), "total_params": total}
        )
