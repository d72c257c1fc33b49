"""Mask over time: flow tracker, ground truth, SAM 2 video on a tiny random config."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.vla.perception import FlowTracker, GroundTruthTracker, Tracker, mask_iou


def test_flow_tracker_follows_a_moving_object(make_scene):
    tracker = FlowTracker()
    assert isinstance(tracker, Tracker)
    img, mask = make_scene((40, 50))
    tracker.start(img, mask)
    for step in range(1, 11):
        img, truth = make_scene((40 + 3 * step, 50 - step), seed=step)
        result = tracker.update(img)
        assert not result.lost, step
        assert mask_iou(result.mask, truth) > 0.7, step


def test_flow_tracker_reports_lost_when_object_disappears(make_scene):
    tracker = FlowTracker()
    img, mask = make_scene((60, 50))
    tracker.start(img, mask)
    assert not tracker.update(make_scene((61, 50), seed=1)[0]).lost
    empty = make_scene((60, 50), radius=0, seed=2)[0]  # object removed
    result = tracker.update(empty)
    assert result.lost and not result.mask.any()


def test_flow_tracker_validation(make_scene):
    img, mask = make_scene((60, 50))
    with pytest.raises(RuntimeError, match="before start"):
        FlowTracker().update(img)
    with pytest.raises(ValueError, match="non-empty"):
        FlowTracker().start(img, np.zeros_like(mask))


def test_ground_truth_tracker(make_scene):
    img, mask = make_scene((60, 50))
    other = np.zeros_like(mask)
    other[10:30, 10:30] = 1
    current = {"disc": mask, "cube": other}
    tracker = GroundTruthTracker(lambda: current)
    tracker.start(img, mask)
    assert tracker.name == "disc"
    np.testing.assert_array_equal(tracker.update(img).mask, mask)
    current["disc"] = np.zeros_like(mask)  # occluded / removed
    assert tracker.update(img).lost
    tracker.start(img, np.zeros_like(mask))  # matches nothing
    assert tracker.update(img).lost


# --- SAM 2 ---------------------------------------------------------------------------------
torch = pytest.importorskip("torch")
S = 128


def tiny_sam2():
    from transformers import Sam2VideoConfig, Sam2VideoModel

    cfg = Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=16,
                num_attention_heads=1,
                image_size=[S, S],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[16, 32, 64, 128],
                num_attention_heads_per_stage=[1, 1, 1, 1],
                window_size_per_stage=[4, 4, 4, 4],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2],
            ),
            backbone_channel_list=[128, 64, 32, 16],
            backbone_feature_sizes=[[S // 4, S // 4], [S // 8, S // 8], [S // 16, S // 16]],
            fpn_hidden_size=256,
        ),
        prompt_encoder_config=dict(hidden_size=256, image_size=S, patch_size=16),
        mask_decoder_config=dict(
            hidden_size=256, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32
        ),
        image_size=S,
        num_maskmem=3,
        memory_attention_hidden_size=256,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64,
        memory_attention_rope_feat_sizes=[S // 16, S // 16],
        memory_encoder_hidden_size=256,
        memory_encoder_output_channels=64,  # the model hard-codes 64 memory channels
        mask_downsampler_embed_dim=256,
        memory_fuser_embed_dim=256,
        memory_fuser_intermediate_dim=64,
        max_object_pointers_in_encoder=4,
    )
    torch.manual_seed(0)
    return Sam2VideoModel(cfg).eval()


@pytest.fixture(scope="module")
def sam2_model():
    return tiny_sam2()


def test_sam2_tracker_streams_with_bounded_memory(sam2_model, make_scene):
    from dexgrasp.vla.perception import Sam2VideoTracker

    tracker = Sam2VideoTracker(sam2_model)
    img, mask = make_scene((60, 50))
    first = tracker.start(img, mask)
    assert first.mask.shape == mask.shape and first.mask.dtype == np.uint8
    for step in range(1, 9):
        result = tracker.update(make_scene((60 + step, 50), seed=step)[0])
        assert result.mask.shape == mask.shape
        assert 0.0 <= result.score <= 1.0
        assert result.lost == (not result.mask.any() or result.score <= 0.5)
        if result.lost:
            assert not result.mask.any()
    assert tracker.n_stored_frames <= 2
    kept = tracker.session.output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert len(kept) <= 6 and max(kept) == 8


def test_sam2_validation(sam2_model, make_scene, tmp_path):
    from dexgrasp.vla.perception import Sam2VideoTracker

    img, mask = make_scene((60, 50))
    tracker = Sam2VideoTracker(sam2_model)
    with pytest.raises(RuntimeError, match="before start"):
        tracker.update(img)
    tracker.start(img, mask)
    with pytest.raises(ValueError, match="differs"):
        tracker.update(img[:50])
    with pytest.raises(OSError, match="huggingface-cli download"):
        Sam2VideoTracker.from_pretrained(tmp_path / "missing")
