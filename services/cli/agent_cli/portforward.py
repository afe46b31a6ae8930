"""A local port forwarded to a Service's pod through the Kubernetes API: what `kubectl
port-forward service/NAME` does, without kubectl. Each local connection opens its own
pods/portforward websocket (the kubernetes client's `portforward`), to one ready pod
behind the Service, chosen at start and again if that pod goes away."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from typing import Any

from agent_cli.errors import CliError, Exit

REQUEST_TIMEOUT_S = 10


class PortForward:
    def __init__(self, namespace: str, service: str, port: int, context: str | None = None) -> None:
        self.namespace, self.service, self.port, self.context = namespace, service, port, context
        self.core: Any = None
        self.pod: str = ""
        self.target_port = 0
        self.listener: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> str:
        """Resolve the pod, check one stream opens, listen on 127.0.0.1; the base URL."""
        self.core = _core_api(self.context)
        self._resolve()
        self._open_stream().close()  # fails here, with a clear message, rather than per request
        self.listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, name="agentctl-port-forward", daemon=True).start()
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
            self.listener = None

    def describe(self) -> str:
        return f"service/{self.service} (pod {self.pod}) in namespace {self.namespace}"

    # ---- the pod behind the Service -------------------------------------------------------

    def _resolve(self) -> None:
        from kubernetes.client.exceptions import ApiException

        try:
            svc = self.core.read_namespaced_service(
                self.service, self.namespace, _request_timeout=REQUEST_TIMEOUT_S
            )
            target = _target_port(svc, self.port, self.service)
            selector = ",".join(f"{k}={v}" for k, v in sorted((svc.spec.selector or {}).items()))
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_S
            ).items
        except ApiException as exc:
            raise self._api_error(exc) from exc
        except Exception as exc:  # urllib3's connection errors: the API server is unreachable
            raise CliError(
                Exit.UNREACHABLE,
                f"cannot reach the Kubernetes API server: {exc}",
                f"check it: kubectl --context {self.context or '<current>'} get nodes",
            ) from exc
        pod = next((p for p in pods if _ready(p)), None)
        if pod is None:
            raise CliError(
                Exit.UNREACHABLE,
                f"no ready pod behind service/{self.service} in namespace {self.namespace}",
                f"kubectl -n {self.namespace} get pods -l {selector}",
            )
        self.pod = pod.metadata.name
        self.target_port = _container_port(pod, target)

    def _api_error(self, exc: Any) -> CliError:
        if exc.status == 404:
            return CliError(
                Exit.UNREACHABLE,
                f"no service/{self.service} in namespace {self.namespace}",
                f"is agent-system deployed there? kubectl -n {self.namespace} get services",
            )
        return CliError(
            Exit.UNREACHABLE,
            f"the Kubernetes API refused ({exc.status} {exc.reason}) while "
            f"looking up service/{self.service} in {self.namespace}",
            "check your credentials and that you may get services and pods and create "
            "pods/portforward in that namespace",
        )

    # ---- streams ----------------------------------------------------------------------------

    def _open_stream(self) -> Any:
        from kubernetes.stream import portforward

        try:
            forward = portforward(
                self.core.connect_get_namespaced_pod_portforward,
                self.pod,
                self.namespace,
                ports=str(self.target_port),
            )
        except Exception as exc:
            raise CliError(
                Exit.UNREACHABLE,
                f"cannot port-forward to pod {self.pod} in {self.namespace}: {exc}",
                "you need the RBAC verb create on pods/portforward there",
            ) from exc
        return forward.socket(self.target_port)

    def _accept(self) -> None:
        while self.listener is not None:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                remote = self._stream_with_retry()
            except Exception:  # noqa: BLE001 - a thread: the client sees the connection close
                return
            with contextlib.closing(remote):
                _pump(conn, remote)

    def _stream_with_retry(self) -> Any:
        """A stream to the pod; if that fails (the pod went away), pick a pod again once."""
        try:
            return self._open_stream()
        except CliError:
            with self._lock:
                self._resolve()
            return self._open_stream()


def _pump(a: Any, b: Any) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [])
        for sock in readable:
            try:
                data = sock.recv(65536)
                if data:
                    peers[sock].sendall(data)
            except OSError:
                data = b""
            if not data:
                return


def _core_api(context: str | None) -> Any:
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise CliError(
            Exit.USAGE,
            "--kube-context/--namespace need the kubernetes client",
            "pip install 'agentctl[kube]'",
        ) from exc
    try:
        return client.CoreV1Api(config.new_client_from_config(context=context))
    except (config.ConfigException, OSError, TypeError) as exc:
        raise CliError(
            Exit.USAGE,
            f"cannot load the Kubernetes config for context {context or '<current>'}: {exc}",
            "kubectl config get-contexts lists the contexts of your KUBECONFIG",
        ) from exc


def _target_port(svc: Any, port: int, name: str) -> int | str:
    for entry in svc.spec.ports or []:
        if entry.port == port:
            return entry.target_port if entry.target_port is not None else port
    raise CliError(Exit.UNREACHABLE, f"service/{name} has no port {port}")


def _ready(pod: Any) -> bool:
    if pod.metadata.deletion_timestamp is not None or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _container_port(pod: Any, target: int | str) -> int:
    """A Service's targetPort may name a container port ("http")."""
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in pod.spec.containers:
        for p in container.ports or []:
            if p.name == target:
                return int(p.container_port)
    raise CliError(Exit.UNREACHABLE, f"pod {pod.metadata.name} has no container port named {target}")
