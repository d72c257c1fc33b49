"""Box -> mask: GrabCut, ground truth, and SAM on a tiny random config."""

from __future__ import annotations

import numpy as np
import pytest

from dexgrasp.vla.perception import (
    GrabCutSegmenter,
    GroundTruthSegmenter,
    Segmenter,
    mask_box,
    mask_iou,
)
from dexgrasp.vla.perception.preprocess import sam_preprocess
from dexgrasp.vla.perception.types import as_xyxy, check_mask


def test_grabcut_segments_the_object_in_the_box(make_scene):
    img, mask = make_scene((70, 50))
    seg = GrabCutSegmenter()
    assert isinstance(seg, Segmenter)
    out = seg.segment(img, (50, 30, 90, 70))
    assert out.shape == mask.shape and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 1}
    assert mask_iou(out, mask) > 0.8
    assert not seg.last_fallback


def test_grabcut_tiny_box_falls_back_to_ellipse(make_scene):
    img, _ = make_scene((70, 50))
    seg = GrabCutSegmenter()
    out = seg.segment(img, (60, 40, 63, 43))
    assert seg.last_fallback and out.any() and mask_box(out) is not None
    assert out[:, :59].sum() == 0 and out[:, 64:].sum() == 0


def test_box_validation():
    img = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="empty"):
        GrabCutSegmenter().segment(img, (5, 5, 5, 9))
    assert as_xyxy((-3, -2, 50, 4.6), 10, 10) == (0, 0, 10, 5)
    with pytest.raises(ValueError, match="shape"):
        check_mask(np.zeros((3, 3, 1)))


def test_ground_truth_segmenter_picks_object_filling_the_box(make_scene):
    img, mask = make_scene((70, 50))
    other = np.zeros_like(mask)
    other[10:30, 10:30] = 1
    seg = GroundTruthSegmenter(lambda: {"disc": mask, "cube": other})
    np.testing.assert_array_equal(seg.segment(img, (54, 34, 86, 66)), mask)
    assert seg.last_name == "disc"
    assert not seg.segment(img, (100, 80, 120, 90)).any()


# --- SAM -----------------------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny_sam():
    from transformers import SamConfig, SamModel

    cfg = SamConfig(
        vision_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=64,
            patch_size=8,
            output_channels=16,
            window_size=4,
            global_attn_indexes=[1],
            num_pos_feats=8,
            mlp_dim=64,
        ),
        prompt_encoder_config=dict(
            hidden_size=16, image_size=64, patch_size=8, mask_input_channels=4
        ),
        mask_decoder_config=dict(
            hidden_size=16, mlp_dim=32, num_attention_heads=2, iou_head_hidden_dim=16
        ),
    )
    torch.manual_seed(0)
    return SamModel(cfg).eval()


def test_sam_preprocessing_matches_transformers_processor(make_scene):
    from transformers.models.sam import SamImageProcessorPil

    img, _ = make_scene((70, 50))
    ours, scale, (rh, rw) = sam_preprocess(img, 64)
    ref = SamImageProcessorPil(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    theirs = ref(images=img, return_tensors="np")["pixel_values"][0]
    assert ours.shape == theirs.shape == (3, 64, 64)
    assert (rh, rw) == (48, 64) and scale == pytest.approx(0.5)
    assert np.abs(ours - theirs).max() < 0.05


def test_sam_segmenter_shapes_and_determinism(tiny_sam, make_scene, tmp_path):
    from dexgrasp.vla.perception import SamSegmenter

    img, _ = make_scene((70, 50))
    seg = SamSegmenter(tiny_sam, clip_margin=0.0)
    a = seg.segment(img, (50, 30, 90, 70))
    assert a.shape == img.shape[:2] and a.dtype == np.uint8
    assert set(np.unique(a)) <= {0, 1}
    assert a[:, :50].sum() == 0 and a[:30].sum() == 0  # clipped to the box
    np.testing.assert_array_equal(a, seg.segment(img, (50, 30, 90, 70)))
    assert np.isfinite(seg.last_score)
    tiny_sam.save_pretrained(tmp_path)
    loaded = SamSegmenter.from_pretrained(tmp_path, clip_margin=0.0)
    np.testing.assert_array_equal(loaded.segment(img, (50, 30, 90, 70)), a)


def test_sam_missing_weights_error(tmp_path):
    from dexgrasp.vla.perception import SamSegmenter

    with pytest.raises(OSError, match="huggingface-cli download"):
        SamSegmenter.from_pretrained(tmp_path / "missing")
