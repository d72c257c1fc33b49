"""Mixed precision follows the hardware: a bf16 request on a CPU without bf16 units warns."""

from __future__ import annotations

import warnings

import pytest

from dexgrasp import precision
from dexgrasp.precision import PrecisionWarning, resolve_mixed_precision


def test_auto_is_bf16_on_cuda_only():
    assert resolve_mixed_precision("auto", cuda=True) == "bf16"
    assert resolve_mixed_precision("auto", cuda=False) == "no"
    assert resolve_mixed_precision("no", cuda=True) == "no"


def test_bf16_on_a_cpu_without_bf16_units_warns(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(PrecisionWarning, match="--mixed-precision no"):
        assert resolve_mixed_precision("bf16", cuda=False) == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_mixed_precision("bf16", cuda=True) == "bf16"
        monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
        assert resolve_mixed_precision("bf16", cuda=False) == "bf16"


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="fp16"):
        resolve_mixed_precision("fp16")


def test_cpu_probe_answers():
    assert isinstance(precision.cpu_has_native_bf16(), bool)
