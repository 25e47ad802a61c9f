"""ONNX Runtime sessions: provider choice with an honest fallback, explicit threads, a cache.

`device` is "auto" (CUDA, then DirectML or CoreML where present, then CPU), "cpu" or "cuda".
onnxruntime-gpu lists the CUDA provider even where no CUDA runtime exists, so availability
is proven by creating a tiny session with it once (ORT's logger silenced) and the verdict is
cached. A requested provider that cannot run is reported in one line and CPU is used.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tilescope.engine.errors import TilescopeError
from tilescope.engine.settings import settings

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
_ACCELERATED = {
    "cuda": ["CUDAExecutionProvider"],
    "auto": ["CUDAExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider"],
}
_verdicts: dict[str, bool] = {}
_verdict_lock = threading.Lock()
_sessions: dict[tuple[str, str, int], Any] = {}
_sessions_lock = threading.Lock()
_warned: set[str] = set()


class SessionError(TilescopeError):
    """A model file could not be loaded by ONNX Runtime; the message names the file."""


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    providers: tuple[str, ...]
    message: str | None  # one line for the user when a request could not be honoured


def default_threads(interactive: bool = False) -> int:
    """Intra-op threads: all cores for batch work, one left free for an interactive GUI."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if interactive else cores


def _probe_model_bytes() -> bytes:
    """A one-node ONNX graph (Identity on float[1]) built without the `onnx` package."""

    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def field(num: int, payload: bytes) -> bytes:
        return varint(num << 3 | 2) + varint(len(payload)) + payload

    def int_field(num: int, value: int) -> bytes:
        return varint(num << 3) + varint(value)

    dim = int_field(1, 1)  # TensorShapeProto.Dimension.dim_value
    shape = field(1, dim)  # TensorShapeProto.dim
    tensor_type = int_field(1, 1) + field(2, shape)  # elem_type FLOAT, shape
    type_proto = field(1, tensor_type)
    value_in = field(1, b"x") + field(2, type_proto)
    value_out = field(1, b"y") + field(2, type_proto)
    node = field(1, b"x") + field(2, b"y") + field(4, b"Identity")
    graph = field(1, node) + field(2, b"probe") + field(11, value_in) + field(12, value_out)
    opset = field(1, b"") + int_field(2, 13)
    return int_field(1, 8) + field(7, graph) + field(8, opset)  # ir_version 8


def provider_works(provider: str) -> bool:
    """Whether `provider` is listed AND can create a session here (cached per process)."""
    import onnxruntime as ort

    with _verdict_lock:
        if provider in _verdicts:
            return _verdicts[provider]
        works = provider in ort.get_available_providers()
        if works and provider != "CPUExecutionProvider":
            options = ort.SessionOptions()
            options.log_severity_level = 4
            # The provider library's load failure goes to the default logger, not the session's:
            # silence it for the probe so the user sees our one line, not a page.
            ort.set_default_logger_severity(4)
            try:
                session = ort.InferenceSession(
                    _probe_model_bytes(), sess_options=options, providers=[provider]
                )
                works = provider in session.get_providers()
            except Exception:
                works = False
            finally:
                ort.set_default_logger_severity(3)
        _verdicts[provider] = works
        return works


def choose_providers(device: str = "auto") -> ProviderChoice:
    """Providers for `device`, CPU always last; a message when the request falls back."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return ProviderChoice(("CPUExecutionProvider",), None)
    for provider in _ACCELERATED[device]:
        if provider_works(provider):
            return ProviderChoice((provider, "CPUExecutionProvider"), None)
    message = None
    if device == "cuda":
        message = "CUDA is not available on this machine (no usable CUDA provider); using CPU"
    return ProviderChoice(("CPUExecutionProvider",), message)


def runs_on_cpu(device: str) -> bool:
    """True when sessions for `device` get the CPU provider only (no accelerator here)."""
    return choose_providers(device).providers == ("CPUExecutionProvider",)


def fallback_notice(device: str) -> str | None:
    """The one-line fallback message for `device`, the first time it is asked for only.

    A CLI prints it itself before sessions are made; otherwise `create_session` logs it.
    """
    message = choose_providers(device).message
    if message is None or device in _warned:
        return None
    _warned.add(device)  # one line per process, not one per session
    return message


def create_session(model_path: str | Path, device: str = "auto", threads: int | None = None) -> Any:
    """A new `onnxruntime.InferenceSession` with explicit threads and spinning off."""
    import onnxruntime as ort

    choice = choose_providers(device)
    notice = fallback_notice(device)
    if notice:
        log.warning(notice)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or int(settings().inference_threads) or default_threads()
    options.inter_op_num_threads = 1
    # Spinning threads burn a core each while idle between batches; the pipeline has gaps.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    path = Path(model_path)
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=list(choice.providers)
        )
    except Exception as error:
        first_line = (
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        )
        raise SessionError(f"{path}: ONNX Runtime cannot load the model ({first_line})") from error


def cached_session(model_path: str | Path, device: str = "auto", threads: int | None = None) -> Any:
    """A session shared per (model file, device, threads); created on first use, where used."""
    key = (str(Path(model_path).resolve()), device, threads or default_threads())
    with _sessions_lock:
        session = _sessions.get(key)
    if session is None:
        session = create_session(model_path, device, threads)
        with _sessions_lock:
            session = _sessions.setdefault(key, session)
    return session


def clear_session_cache() -> None:
    with _sessions_lock:
        _sessions.clear()
