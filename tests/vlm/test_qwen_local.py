"""QwenVLLocalClient on a tiny randomly initialised Qwen2.5-VL built offline in the test."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from dexgrasp.vlm import Message, VLMConfigError  # noqa: E402
from dexgrasp.vlm.qwen_local import IMAGE_PAD, QwenVLLocalClient  # noqa: E402

SPECIALS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]


def tiny_tokenizer():
    """Byte-level BPE without merges (any text encodes) plus the Qwen special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )


def tiny_model(tokenizer):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIALS}
    cfg = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=1024,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 3, 3],
            },
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=32,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=56,
            fullatt_block_indexes=[1],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    return Qwen2_5_VLForConditionalGeneration(cfg).eval()


@pytest.fixture(scope="module")
def client():
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    tok = tiny_tokenizer()
    proc = Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=112 * 112)
    return QwenVLLocalClient(tiny_model(tok), tok, proc)


def test_prompt_has_one_pad_token_per_merged_patch(client):
    image = np.zeros((60, 90, 3), np.uint8)
    inputs = client.build_inputs([Message.user("where is it?", image)])
    t, h, w = inputs["image_grid_thw"][0].tolist()
    pad_id = client.tokenizer.convert_tokens_to_ids(IMAGE_PAD)
    n_pad = int((inputs["input_ids"] == pad_id).sum())
    assert n_pad == t * h * w // 4
    assert inputs["pixel_values"].shape[0] == t * h * w


def test_chat_generates_text_with_images(client):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (56, 84, 3), dtype=np.uint8) for _ in range(2)]
    msgs = [Message.system("planner"), Message.user("initial", images[0], "now", images[1], "?")]
    a = client.chat(msgs, max_tokens=5)
    b = client.chat(msgs, max_tokens=5)
    assert isinstance(a, str) and a == b  # greedy decoding is deterministic


def test_save_and_load_round_trip(client, tmp_path):
    client.model.save_pretrained(tmp_path)
    client.tokenizer.save_pretrained(tmp_path)
    client.image_processor.save_pretrained(tmp_path)
    loaded = QwenVLLocalClient.from_pretrained(tmp_path, min_pixels=56 * 56, max_pixels=112 * 112)
    msgs = [Message.user("hello", np.full((56, 56, 3), 200, np.uint8))]
    assert loaded.chat(msgs, max_tokens=4) == client.chat(msgs, max_tokens=4)


def test_missing_weights_say_how_to_supply_them(tmp_path):
    with pytest.raises(VLMConfigError, match="config.json"):
        QwenVLLocalClient.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    with pytest.raises(VLMConfigError, match="huggingface-cli download"):
        QwenVLLocalClient.from_pretrained(tmp_path)


def test_sampling_and_argument_validation(client):
    msgs = [Message.user("hi")]
    assert isinstance(client.chat(msgs, max_tokens=3, temperature=0.8), str)
    with pytest.raises(ValueError, match="max_tokens"):
        client.chat(msgs, max_tokens=0)
    with pytest.raises(ValueError, match="temperature"):
        client.chat(msgs, temperature=5.0)
