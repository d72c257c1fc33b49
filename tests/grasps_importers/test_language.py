"""Language annotation: template wording, VLM answer parsing, the VLM annotator end to end."""

import numpy as np
import pytest

from dexgrasp.grasps.language import (
    AnnotationError,
    TemplateAnnotator,
    VLMAnnotator,
    describe_fingers,
    fingers_of_links,
    parse_vlm_answer,
)
from dexgrasp.grasps.objects import make_object

FINGER_WORDS = ("thumb", "index", "middle", "ring", "little", "finger", "rh_")


def test_fingers_and_phrases():
    links = ["rh_thdistal", "rh_ffdistal", "rh_ffmiddle", "rh_palm"]
    assert fingers_of_links(links) == ["thumb", "index", "palm"]
    assert describe_fingers(["thumb", "index"]) == "thumb and index finger"
    assert describe_fingers(["thumb", "index", "middle"]) == "thumb, index and middle fingers"
    assert describe_fingers(["index", "middle", "ring", "little"]) == "four fingers"
    assert describe_fingers(["thumb", "index", "middle", "ring", "little", "palm"]) == "whole hand"
    with pytest.raises(ValueError, match="unknown contact link"):
        fingers_of_links(["rh_wrist"])


def test_template_annotator_content_and_determinism():
    ann = TemplateAnnotator(seed=3)
    links = ["rh_thdistal", "rh_ffdistal"]
    a = ann.annotate("mug", "handle", "tip_pinch", links, n=3, key="g1")
    b = ann.annotate("mug", "handle", "tip_pinch", links, n=3, key="g1")
    assert a.to_dict() == b.to_dict()  # same inputs, same sentences
    assert len(a.physical) == len(a.functional) == 3
    assert len(set(a.physical)) == 3  # varied phrasing
    for s in a.physical:
        assert "mug" in s and "handle" in s and "thumb" in s
        assert s[0].isupper() and s.endswith(".")
    for s in a.functional:
        assert "mug" in s
        assert not any(w in s.lower() for w in FINGER_WORDS)  # purpose only, no fingers
    # Different grasps get different wording somewhere.
    others = {
        tuple(ann.annotate("mug", "handle", "tip_pinch", links, 3, key=k).physical)
        for k in range(6)
    }
    assert len(others) > 1
    # Category/part specific purpose.
    c = ann.annotate("bottle", "cap", "tripod", ["rh_thdistal", "rh_ffdistal", "rh_mfdistal"])
    assert "open" in c.functional[0].lower()


def test_parse_vlm_answer_lenient_and_strict():
    text = """Sure! Here it is:
```json
{"Category": "mug", "parts": "handle",
 "Level-1": ["Grip the mug by the handle with thumb and index finger.", ""],
 "level_2": "Pour coffee from the mug."}
```"""
    out = parse_vlm_answer(text)
    assert out.category == "mug" and out.parts == ["handle"]
    assert out.physical == ["Grip the mug by the handle with thumb and index finger."]
    assert out.functional == ["Pour coffee from the mug."]
    assert out.source == "vlm"
    with pytest.raises(AnnotationError, match="no JSON object"):
        parse_vlm_answer("I cannot see the object.")
    with pytest.raises(AnnotationError, match="functional"):
        parse_vlm_answer('{"physical": ["Hold it."]}')
    with pytest.raises(AnnotationError, match="invalid JSON") as err:
        parse_vlm_answer('{"physical": [Hold it.]}')
    assert "Hold it." in err.value.raw


def _tiny_views(obj, grasp, contacts):
    return [np.full((8, 8, 3), 40 * k, np.uint8) for k in range(2)]


def test_vlm_annotator_over_http(monkeypatch):
    from dexgrasp.vlm import OpenAIClientConfig, OpenAICompatibleClient
    from dexgrasp.vlm.loopback import LoopbackChatServer, Reply

    monkeypatch.setenv("TEST_VLM_KEY", "k")
    good = '{"category": "mug", "parts": ["handle"], "physical": ["Hold the mug by its handle."], "functional": ["Pour tea."]}'
    obj = make_object("mug", 0)
    links = {"rh_thdistal": np.zeros((1, 3)), "rh_ffdistal": np.zeros((2, 3))}
    with LoopbackChatServer([Reply(text=good), Reply(text="no idea")]) as server:
        cfg = OpenAIClientConfig(
            base_url=server.base_url, model="m", api_key_env="TEST_VLM_KEY", max_retries=0
        )
        client = OpenAICompatibleClient(cfg)
        ann = VLMAnnotator(client, render=_tiny_views, fallback=TemplateAnnotator())
        out = ann.annotate(obj, np.zeros(28), links, part="handle", grasp_type="tip_pinch")
        assert out.source == "vlm" and out.functional == ["Pour tea."]
        # The request carried both views and the contact links (in LINK_NAMES order).
        content = server.requests[0]["messages"][1]["content"]
        assert sum(part["type"] == "image_url" for part in content) == 2
        text = "".join(part.get("text", "") for part in content)
        assert "rh_ffdistal, rh_thdistal" in text and obj.object_id in text
        # An unusable answer falls back to the template annotator.
        out2 = ann.annotate(obj, np.zeros(28), links, part="handle", grasp_type="tip_pinch")
        assert out2.source == "template-fallback" and "handle" in out2.physical[0]
    strict = VLMAnnotator(
        type("C", (), {"chat": lambda self, m, **k: "nothing"})(), render=_tiny_views
    )
    with pytest.raises(AnnotationError):
        strict.annotate(obj, np.zeros(28), ["rh_palm"])
    with pytest.raises(TypeError, match="chat"):
        VLMAnnotator(object())


def test_render_grasp_views_shapes():
    from dexgrasp.grasps.language import render_grasp_views

    g = np.zeros(28)
    g[:3] = [0.0, 0.12, 0.0]
    views = render_grasp_views(make_object("can", 0), g, n_views=3, width=32, height=24)
    assert len(views) == 3 and all(v.shape == (24, 32, 3) and v.dtype == np.uint8 for v in views)
    assert views[0].std() > 0  # something was drawn


def _ball_dataset(root):
    from dexgrasp.grasps.dataset import GraspDatasetWriter, GraspRecord
    from dexgrasp.grasps.objects import GraspObject, Primitive

    obj = GraspObject("ball", "ball", (Primitive("sphere", (0.035,)),), mass=0.1)
    pts, nrm, lab = obj.sample_surface(500, seed=0)
    w = GraspDatasetWriter(root)
    w.add_object("ball", "ball", obj.parts, pts, lab, nrm, spec=obj.to_dict())
    contacts = {"rh_thdistal": [[0.0, 0.035, 0.0]], "rh_ffdistal": [[0.0, -0.035, 0.0]]}
    old = [{"level": "physical", "text": "Hold the ball."}]
    w.add_grasps("ball", [GraspRecord("ball", np.zeros(28), "body", "tip_pinch", contacts, list(old))
                          for _ in range(3)])  # fmt: skip
    w.finalize()
    return root


def test_annotate_dataset_template_then_vlm(tmp_path, monkeypatch):
    from dexgrasp.cli import main
    from dexgrasp.grasps.dataset import GraspDataset
    from dexgrasp.grasps.language import annotate_dataset

    root = _ball_dataset(tmp_path / "ds")
    assert main(["grasps", "annotate", "--data", str(root), "--n", "2"]) == 0
    recs = GraspDataset.open(root).records()
    for r in recs:
        assert r.instructions[0] == {"level": "physical", "text": "Hold the ball."}  # kept
        new = [i for i in r.instructions if i.get("annotator") == "template"]
        assert sorted(i["level"] for i in new) == [
            "functional",
            "functional",
            "physical",
            "physical",
        ]
    # Running again skips what is done.
    assert annotate_dataset(root, TemplateAnnotator())["skipped"] == 3
    # VLM: one good answer, then garbage (no fallback) -> counted as failed, nothing lost.
    good = '{"physical": ["Pinch the ball."], "functional": ["Throw the ball."]}'
    calls = []

    class Client:
        def chat(self, messages, **kw):
            calls.append(messages)
            return good if len(calls) == 1 else "sorry"

    ann = VLMAnnotator(Client(), render=_tiny_views)
    counts = annotate_dataset(root, ann, limit=5)
    assert counts == {"annotated": 1, "skipped": 0, "failed": 2}
    recs = GraspDataset.open(root).records()
    assert recs[0].instructions[-1] == {
        "level": "functional",
        "text": "Throw the ball.",
        "annotator": "vlm",
    }
    assert "annotation_errors" in recs[1].meta and len(recs[1].instructions) == 5
