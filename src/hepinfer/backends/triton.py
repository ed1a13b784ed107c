"""A Triton Inference Server as a backend: requests over KServe v2 gRPC or HTTP (SONIC).

The server must be running already (``hepinfer serve``, or any Triton serving the model):
bench and eventloop start their own worker processes, and each worker is a client. Each
thread gets its own client connection, so one loaded backend may be shared by framework
threads. The record names the server, protocol, model and version and, from the server's
statistics, splits the time of a request into queue, compute and the rest (network,
serialisation, the Python backend's hop).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlparse

import numpy as np

from hepinfer._optional import missing
from hepinfer.backends.base import Backend, BackendOptions, ModelArtifact, Outputs, Prepared, check_inputs
from hepinfer.errors import BackendUnavailable, ConfigurationError, HepinferError, ModelInputError

# numpy dtype name -> KServe v2 datatype.
V2_TYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
}
PORTS = {"grpc": 8001, "http": 8000}


@dataclass(frozen=True)
class TritonOptions(BackendOptions):
    """Where the model is served. ``model`` empty: the name ``hepinfer serve`` gives it."""

    server: str = "grpc://127.0.0.1:8001"
    model: str = ""
    model_version: str = ""
    timeout_s: float = 60.0


def parse_server(url: str) -> tuple[str, str]:
    """``grpc://HOST:PORT`` or ``http://HOST:PORT`` -> (protocol, "HOST:PORT")."""
    parsed = urlparse(url if "://" in url else f"grpc://{url}")
    if parsed.scheme not in PORTS or not parsed.hostname:
        raise ConfigurationError(
            f"--option triton.server={url}: expected grpc://HOST:PORT or http://HOST:PORT"
        )
    return parsed.scheme, f"{parsed.hostname}:{parsed.port or PORTS[parsed.scheme]}"


class TritonBackend(Backend):
    """A KServe v2 client of a Triton server (tritonclient)."""

    name: ClassVar[str] = "triton"
    # The model is on the server: nothing is converted on the client (a zoo model is not
    # exported by the worker; the server has its own copy).
    formats: ClassVar[frozenset[str]] = frozenset({"onnx", "torch"})
    Options: ClassVar[type[BackendOptions]] = TritonOptions
    packages: ClassVar[tuple[str, ...]] = ("tritonclient",)
    shareable: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when tritonclient with its gRPC and HTTP parts is installed."""
        return next(filter(None, (missing(m) for m in ("tritonclient", "grpc", "geventhttpclient"))), None)

    def load(self, model: ModelArtifact, options: BackendOptions) -> None:
        """Connect, check the server and the model are ready, read the model's metadata."""
        assert isinstance(options, TritonOptions)
        self.options = options
        self.spec = model.spec
        self.protocol, self.address = parse_server(options.server)
        self.model = options.model or model.ref.safe_name  # the repository's default name
        self._local = threading.local()
        self._module = __import__(f"tritonclient.{self.protocol}", fromlist=["InferInput"])
        self._errors = __import__("tritonclient.utils", fromlist=["InferenceServerException"])
        client = self._client()
        where = f"{self.protocol}://{self.address}"
        try:
            live = client.is_server_live()
        except Exception as err:
            raise BackendUnavailable(f"no Triton server answers at {where}: {_line(err)}") from err
        if not live:
            raise BackendUnavailable(f"the Triton server at {where} is not live")
        try:
            ready = client.is_model_ready(self.model, options.model_version)
            meta = self._json(client.get_model_metadata(self.model, options.model_version))
            server = self._json(client.get_server_metadata())
        except Exception as err:
            raise BackendUnavailable(f"Triton at {where}: model {self.model}: {_line(err)}") from err
        if not ready:
            raise BackendUnavailable(f"model {self.model} is not ready on the Triton server at {where}")
        self.output_names = [o["name"] for o in meta.get("outputs", [])]
        self.meta = {
            "server": where,
            "protocol": self.protocol,
            "model": self.model,
            "model_versions": meta.get("versions", []),
            "model_version": options.model_version or max(meta.get("versions", ["?"])),
            "server_version": server.get("version"),
            "server_name": server.get("name"),
            "platform": meta.get("platform"),
            "timeout_s": options.timeout_s,
        }
        self._lock = threading.Lock()
        self._client_ns = 0
        self._client_calls = 0
        self._since_load = self._statistics()
        self._since = self._since_load

    def _client(self) -> Any:
        """This thread's client (the HTTP client is not thread-safe; one per thread for both)."""
        client = getattr(self._local, "client", None)
        if client is None:
            if self.protocol == "http":
                client = self._module.InferenceServerClient(
                    self.address,
                    connection_timeout=self.options.timeout_s,
                    network_timeout=self.options.timeout_s,
                )
            else:
                client = self._module.InferenceServerClient(self.address)
            self._local.client = client
        return client

    def _json(self, reply: Any) -> dict[str, Any]:
        if self.protocol == "grpc":
            from google.protobuf.json_format import MessageToDict

            out: dict[str, Any] = MessageToDict(reply, preserving_proto_field_name=True)
            return out
        return dict(reply)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Prepared:
        """Untimed: the request's input objects with their data set."""
        check_inputs(self.spec, inputs)
        mod = self._module
        tensors = []
        for name, value in inputs.items():
            value = np.ascontiguousarray(value)
            dtype = V2_TYPES.get(value.dtype.name)
            if dtype is None:
                raise ModelInputError(f"input {name}: dtype {value.dtype} has no KServe v2 type")
            t = mod.InferInput(name, list(value.shape), dtype)
            t.set_data_from_numpy(value)
            tensors.append(t)
        outputs = [mod.InferRequestedOutput(n) for n in self.output_names]
        self._since = self._statistics()
        with self._lock:
            self._client_ns = 0
            self._client_calls = 0
        return (tensors, outputs)

    def run(self, prepared: Prepared) -> Any:
        """Timed: one request, answered."""
        tensors, outputs = prepared
        client = self._client()
        t0 = time.perf_counter_ns()
        try:
            if self.protocol == "grpc":
                result = client.infer(
                    self.model,
                    tensors,
                    model_version=self.options.model_version,
                    outputs=outputs,
                    client_timeout=self.options.timeout_s,
                )
            else:
                result = client.infer(
                    self.model, tensors, model_version=self.options.model_version, outputs=outputs
                )
        except self._errors.InferenceServerException as err:
            raise HepinferError(
                f"Triton {self.protocol}://{self.address} model {self.model}: {_line(err)}"
            ) from err
        dt = time.perf_counter_ns() - t0
        with self._lock:
            self._client_ns += dt
            self._client_calls += 1
        return result

    def fetch(self, prepared: Prepared, raw: Any) -> Outputs:
        """Outputs by name."""
        return {n: np.asarray(raw.as_numpy(n)) for n in self.output_names}

    def _statistics(self) -> dict[str, Any]:
        """The model's cumulative inference statistics (the server's view)."""
        try:
            stats = self._json(
                self._client().get_inference_statistics(self.model, self.options.model_version)
            )
        except Exception:
            return {}
        models = stats.get("model_stats", [])
        return models[0] if models else {}

    def breakdown(self, since: Mapping[str, Any]) -> dict[str, Any]:
        """Mean time per request since a statistics snapshot: queue, compute, the rest.

        The server's statistics count every client of the model; with other clients at the
        same time, queue and compute are theirs too.
        """
        with self._lock:
            client_ns, client_calls = self._client_ns, self._client_calls
        now = self._statistics()
        # Triton counts a request once its response is sent, which can be after the client
        # has it: wait (briefly) until the server has counted what this client sent.
        deadline = time.monotonic() + 2.0
        while now and since and time.monotonic() < deadline:
            counted = int(now.get("inference_stats", {}).get("success", {}).get("count", 0)) - int(
                since.get("inference_stats", {}).get("success", {}).get("count", 0)
            )
            if counted >= client_calls:
                break
            time.sleep(0.01)
            now = self._statistics()
        if not now or not since:
            return {"available": False}

        def delta(part: str, what: str) -> int:
            a = now.get("inference_stats", {}).get(part, {}).get(what, 0)
            b = since.get("inference_stats", {}).get(part, {}).get(what, 0)
            return int(a) - int(b)

        count = delta("success", "count")
        if count <= 0:
            return {"available": False, "requests": 0}
        queue = delta("queue", "ns") / count
        compute = sum(delta(p, "ns") for p in ("compute_input", "compute_infer", "compute_output")) / count
        server = delta("success", "ns") / count
        out: dict[str, Any] = {
            "available": True,
            # Means per request over the interval (Triton keeps sums, not samples).
            "method": "triton inference statistics, mean per request",
            "requests": count,
            "failed": delta("fail", "count"),
            "executions": int(now.get("execution_count", 0)) - int(since.get("execution_count", 0)),
            "queue_ns": queue,
            "compute_ns": compute,
            "compute_infer_ns": delta("compute_infer", "ns") / count,
            "server_ns": server,
            "server_other_ns": server - queue - compute,
        }
        if client_calls:
            client = client_ns / client_calls
            out.update(
                {
                    "client_ns": client,
                    "wall_ns": client,
                    "client_calls": client_calls,
                    # Network, (de)serialisation and the client library: what serving adds.
                    "rest_ns": client - queue - compute,
                    "network_ns": client - server,
                }
            )
        return out

    def after_timing(self, prepared: Prepared) -> dict[str, Any]:
        """Bench hook: the server's split of the timed requests (warm-up included)."""
        return {"timing": {"breakdown": self.breakdown(self._since)}}

    def settings(self) -> dict[str, Any]:
        """Server, protocol, model and version; the statistics split since load."""
        return {**self.meta, "breakdown_since_load": self.breakdown(self._since_load)}


def _line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
