"""Provider choice: a CUDA request on a machine without CUDA runs on CPU, said in one line."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tests.engine.inference.synthetic import identity_model
from tilescope.engine.inference import sessions


def _cuda_usable() -> bool:
    return sessions.provider_works("CUDAExecutionProvider")


def test_cpu_is_always_available() -> None:
    choice = sessions.choose_providers("cpu")
    assert choice.providers == ("CPUExecutionProvider",) and choice.message is None


def test_cuda_request_falls_back_to_cpu_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    if _cuda_usable():
        pytest.skip("CUDA works here; the fallback cannot be observed")
    sessions._warned.clear()
    path = identity_model(tmp_path / "m.onnx")
    with caplog.at_level(logging.WARNING, logger="tilescope.engine.inference.sessions"):
        session = sessions.create_session(path, device="cuda", threads=1)
        sessions.create_session(path, device="cuda", threads=1)  # said once per process
    assert session.get_providers() == ["CPUExecutionProvider"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "\n" not in messages[0] and "CPU" in messages[0]
    # and ONNX Runtime's own page about missing CUDA libraries was not printed
    assert "libcublas" not in capfd.readouterr().err
    out = session.run(None, {"image": np.ones((1, 1, 4, 4), np.float32)})[0]
    assert out.shape == (1, 1, 4, 4)


def test_auto_prefers_an_accelerator_only_if_it_really_works() -> None:
    choice = sessions.choose_providers("auto")
    assert choice.providers[-1] == "CPUExecutionProvider"
    if not _cuda_usable():
        assert "CUDAExecutionProvider" not in choice.providers


def test_sessions_are_cached_per_model_device_and_threads(tmp_path: Path) -> None:
    path = identity_model(tmp_path / "m.onnx")
    a = sessions.cached_session(path, "cpu", 1)
    assert sessions.cached_session(path, "cpu", 1) is a
    assert sessions.cached_session(path, "cpu", 2) is not a


def test_threads_are_set_explicitly(tmp_path: Path) -> None:
    path = identity_model(tmp_path / "m.onnx")
    session = sessions.create_session(path, "cpu", threads=1)
    assert session.get_session_options().intra_op_num_threads == 1
    assert sessions.default_threads(interactive=True) >= 1


def test_corrupt_model_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(sessions.SessionError, match=r"bad\.onnx: ONNX Runtime cannot load"):
        sessions.create_session(bad, "cpu", 1)


def test_unknown_device_is_refused() -> None:
    with pytest.raises(ValueError, match="device must be"):
        sessions.choose_providers("tpu")
