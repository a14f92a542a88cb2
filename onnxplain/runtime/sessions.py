"""ONNX Runtime sessions for an artifact: the device (execution provider) and one session per output set.

Every session is built from the artifact's graph pruned to the outputs asked for (see ``pruning``), so a
call that wants only ``logits`` or one method pays only for that. The weights are written once, page-aligned,
to one file in a private temporary directory, and every pruned graph refers to them there as ONNX external
data; ONNX Runtime memory-maps that file on CPU, so sessions share one copy of the weights (measured on a
two-branch model of 88 MB: three sessions added 97 MB in all, against 650 MB when each held its own copy).
On CPU a graph with a method in it runs its nodes in the order ``schedule`` chooses for memory.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, numpy_helper

from onnxplain.errors import UserError
from onnxplain.runtime import process_memory, schedule
from onnxplain.runtime.artifact import LOGITS, ArtifactError
from onnxplain.runtime.ort_memory import CHOSEN, OrtMemorySettings
from onnxplain.runtime.pruning import pruned_model

DEVICES = ("cpu", "cuda", "auto")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
SHARED_WEIGHT_MIN_BYTES = 1024
WEIGHTS_FILE = "weights.bin"
PAGE_BYTES = 4096  # offsets aligned so that the file can be memory-mapped tensor by tensor


@dataclass(frozen=True)
class Device:
    """Where inference runs: ``name`` is ``cpu`` or ``cuda``; ``note`` says why when not as asked."""

    requested: str
    name: str
    providers: tuple[str, ...]
    note: str | None = None


def choose_device(requested: str) -> Device:
    """Resolve ``cpu``, ``cuda`` or ``auto`` to execution providers; ``cuda`` without CUDA is an error."""
    if requested not in DEVICES:
        raise UserError(f"unknown device {requested!r}; use one of {', '.join(DEVICES)}")
    available = ort.get_available_providers()
    if requested == "cpu":
        return Device(requested, "cpu", (CPU_PROVIDER,))
    if CUDA_PROVIDER in available:
        return Device(requested, "cuda", (CUDA_PROVIDER, CPU_PROVIDER))
    missing = f"this onnxruntime {ort.__version__} has no {CUDA_PROVIDER} (it offers {', '.join(available)})"
    if requested == "cuda":
        raise UserError(
            f"device 'cuda' is not usable: {missing}; install onnxruntime-gpu "
            "(pip install 'onnxplain[gpu]') with a matching CUDA, or use device 'cpu'"
        )
    return Device(requested, "cpu", (CPU_PROVIDER,), note=f"auto chose cpu: {missing}")


def session_options(
    intra_op_threads: int | None, memory: OrtMemorySettings = CHOSEN, spinning: bool = False
) -> ort.SessionOptions:
    """ONNX Runtime's options for one of our sessions. ``spinning``: the intra-op threads wait for the next
    operator's work by spinning (ONNX Runtime's own default) instead of sleeping: lower latency with more than
    one thread, paid in CPU time burnt while they wait, which a machine shared with other work feels."""
    options = memory.apply(ort.SessionOptions())
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3
    return options


class SessionPool:
    """Sessions of one artifact graph, one per set of outputs, least recently used dropped beyond ``size``."""

    def __init__(
        self,
        model_path: Path,
        device: Device,
        intra_op_threads: int | None = None,
        size: int = 4,
        memory: OrtMemorySettings = CHOSEN,
        spinning: bool = False,
    ) -> None:
        self.device = device
        self._spinning = spinning
        self.memory = memory
        self._run_options = memory.run_options()
        self._threads = intra_op_threads
        self._size = size
        self._lock = threading.Lock()
        self._sessions: OrderedDict[frozenset[str], ort.InferenceSession] = OrderedDict()
        self._session_bytes: dict[frozenset[str], int] = {}  # resident memory each added when built
        # the shared weights file and pruned graphs; removed with the pool, silently (a dropped explainer is normal
        # use, so TemporaryDirectory's implicit-cleanup ResourceWarning would be noise in the caller's warnings)
        self._directory = Path(tempfile.mkdtemp(prefix="onnxplain-"))
        weakref.finalize(self, shutil.rmtree, self._directory, ignore_errors=True)
        try:
            self._model = onnx.load(str(model_path))
        except Exception as error:  # a truncated or altered file fails in protobuf or onnx, whichever reads first
            raise ArtifactError(
                f"{model_path} cannot be read as an ONNX model ({type(error).__name__}): it is damaged or "
                "incomplete; copy the artifact again or re-export it"
            ) from None
        self._shared = self._externalise_weights()  # name -> the reference left in the graph
        self._value_bytes: dict[str, int] | None = None  # for schedule.memory_order, worked out once
        self.output_names: tuple[str, ...] = tuple(o.name for o in self._model.graph.output)

    def _externalise_weights(self) -> dict[str, TensorProto]:
        """Move every large initializer into the shared weights file, leaving a reference in the graph; the
        references, by name."""
        graph_inputs = {i.name for i in self._model.graph.input}
        shared: dict[str, TensorProto] = {}
        with open(self._directory / WEIGHTS_FILE, "wb") as weights:
            for tensor in self._model.graph.initializer:
                if tensor.name in graph_inputs:  # an input's default (head_mask) stays in the graph
                    continue
                data = numpy_helper.to_array(tensor).tobytes()
                if len(data) < SHARED_WEIGHT_MIN_BYTES:
                    continue
                weights.write(b"\0" * (-weights.tell() % PAGE_BYTES))
                offset = weights.tell()
                weights.write(data)
                name, dims, data_type = tensor.name, list(tensor.dims), tensor.data_type
                tensor.Clear()
                tensor.name, tensor.data_type = name, data_type
                tensor.dims.extend(dims)
                tensor.data_location = TensorProto.EXTERNAL
                for key, value in (("location", WEIGHTS_FILE), ("offset", offset), ("length", len(data))):
                    entry = tensor.external_data.add()
                    entry.key, entry.value = key, str(value)
                shared[name] = tensor
        return shared

    def __len__(self) -> int:
        """Sessions held now."""
        return len(self._sessions)

    @property
    def held_bytes(self) -> int:
        """The resident memory the sessions held now added when they were built (0 where not measurable)."""
        with self._lock:
            return sum(self._session_bytes.get(key, 0) for key in self._sessions)

    def session(self, outputs: Sequence[str]) -> ort.InferenceSession:
        key = frozenset(outputs)
        unknown = key - set(self.output_names)
        if unknown:
            raise UserError(f"the artifact's graph has no output {', '.join(sorted(unknown))}; re-export the model")
        with self._lock:
            if key in self._sessions:
                self._sessions.move_to_end(key)
                return self._sessions[key]
            process_memory.trim()
            before = process_memory.resident_bytes()
            session = self._build(sorted(key))
            process_memory.trim()
            after = process_memory.resident_bytes()
            self._sessions[key] = session
            self._session_bytes[key] = 0 if before is None or after is None else max(0, after - before)
            while len(self._sessions) > self._size:
                dropped, _ = self._sessions.popitem(last=False)
                self._session_bytes.pop(dropped, None)
            return session

    def run(
        self,
        outputs: Sequence[str],
        feeds: Mapping[str, np.ndarray],
        defaults: Mapping[str, np.ndarray] | None = None,
    ) -> list[np.ndarray]:
        """Run the session for ``outputs``. Feeds its graph does not read (after pruning) are left out;
        ``defaults`` are fed only to inputs the graph requires (those without an initializer) and lack."""
        session = self.session(outputs)
        required = {i.name for i in session.get_inputs()}
        accepted = required | {i.name for i in session.get_overridable_initializers()}
        chosen = {k: v for k, v in feeds.items() if k in accepted}
        chosen |= {k: v for k, v in (defaults or {}).items() if k in required and k not in chosen}
        return session.run(list(outputs), chosen, self._run_options)

    def _build(self, outputs: list[str]) -> ort.InferenceSession:
        model = pruned_model(self._model, outputs)
        path = self._directory / "pruned.onnx"
        onnx.save(model, str(path))  # beside the weights file, which its initializers refer to
        options = session_options(self._threads, self.memory, self._spinning)
        # A method's graph (it has a backward pass) runs in an order chosen for memory; on CPU only, the
        # one device it has been measured on.
        if set(outputs) != {LOGITS} and self.device.name == "cpu":
            if self._value_bytes is None:
                self._value_bytes = schedule.inferred_value_bytes(self._model)
            path = schedule.scheduled_model(path, options, self.device.providers, self._value_bytes, self._shared)
        session = ort.InferenceSession(str(path), options, providers=list(self.device.providers))
        for written in self._directory.iterdir():
            if written.name != WEIGHTS_FILE:
                written.unlink()
        if self.device.name == "cuda" and CUDA_PROVIDER not in session.get_providers():
            problem = "onnxruntime-gpu could not start CUDA (its CUDA and cuDNN libraries are missing or unusable)"
            if self.device.requested == "cuda":
                raise UserError(f"device 'cuda' is not usable: {problem}; fix them, or use device 'cpu'")
            self.device = Device(self.device.requested, "cpu", (CPU_PROVIDER,), note=f"auto chose cpu: {problem}")
        return session
