"""Code shared by the agent-system services."""

import sys

# redis-py 8 imports the OpenTelemetry metrics SDK whenever it is installed, for optional
# OTel metrics of its own that we do not use (our metrics are Prometheus; our traces need
# only the trace SDK). That import costs every process 4 MB of memory and 0.1 s of start;
# marking the module absent before redis is imported makes redis-py skip it.
sys.modules.setdefault("opentelemetry.sdk.metrics", None)  # type: ignore[arg-type]  # None in sys.modules is Python's documented "import fails"
