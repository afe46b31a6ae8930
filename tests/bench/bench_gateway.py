"""Gateway benchmark (not a test): requests/s and latency through the gateway against the
same upstream called directly and through nginx, in one run.

    python -m tests.bench.bench_gateway [--duration 10] [--rounds 3] [--single 5] [--profile DIR]
                                        [--baseline GIT_REV]

It starts PostgreSQL and Redis (the gateway needs them for sessions and rate limits), a
uvicorn upstream (uvloop, httptools) with a small JSON body, the gateway in front of it
with a real session (the rate limit runs, with a bucket too large to refuse), and nginx
(Debian's package, one worker, keep-alive to the upstream, a temporary config on a loopback
port) in front of the same upstream. Each target gets `wrk -t1 -c32 -d10s --latency`, round
after round, and the median round is reported, with the load average before and after: the
machine has 2 cores, so other work on it shows in the figures. The "cpu us/req" column (CPU
time of the proxy process per request, from /proc) moves much less with that load than
requests/s do. A last pass with one connection shows what each hop adds to a single request
without queueing (with 32 connections, p50 is mostly 32 / throughput). nginx and wrk are
installed with apt-get when missing (as root; nginx's worker runs as `nobody`); --profile
records the gateway with py-spy (pip-installed when missing) and prints the top frames.
--baseline runs a second gateway from the services of a git revision (`git archive`, put
first on its PYTHONPATH) as the target `baseline`, in the same rounds: old and new measured
side by side, interleaved, on the same upstream, database and session.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from agent_common.devstack import Ports, ServiceProcess, Stack, free_port, wait_http_ready
from tests.bench.figures import record
from tests.bench.procstat import children, cpu_seconds

REPO = Path(__file__).resolve().parents[2]
WRK_THREADS = 1
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  upstream app {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0
    cpu_us: float = float("nan")  # CPU time of the proxy (or of the upstream, direct) per request


def ensure_tools() -> None:
    """nginx and wrk from Debian's packages (the script may run on a fresh machine)."""
    missing = [
        pkg
        for pkg, binary in (("nginx", "nginx"), ("wrk", "wrk"))
        if not shutil.which(binary) and not Path(f"/usr/sbin/{binary}").exists()
    ]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {', '.join(missing)}: run `sudo apt-get install -y {' '.join(missing)}`")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def start_nginx(workdir: Path, upstream: int, port: int) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    # as root, the master switches its worker to `nobody` (nginx's default): no root worker
    conf.write_text(NGINX_CONF.format(dir=workdir, upstream=upstream, port=port))
    proc = subprocess.Popen(
        [nginx_binary(), "-p", str(workdir), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_http_ready(f"http://127.0.0.1:{port}/tasks", timeout=10, proc=proc)
    return proc


def start_upstream(port: int, log_dir: Path) -> subprocess.Popen[bytes]:
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "upstream.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.gateway_upstream", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_http_ready(f"http://127.0.0.1:{port}/tasks", timeout=15, proc=proc)
    return proc


def start_gateway(
    stack: Stack, port: int, upstream: int, *, name: str = "gateway", services: Path | None = None
) -> ServiceProcess:
    """The gateway; from the packages under `services` (a checkout's services/) when given."""
    env = {
        **stack.env(),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "ORCHESTRATOR_URL": f"http://127.0.0.1:{upstream}",
        "CHAT_SERVICE_URL": f"http://127.0.0.1:{upstream}",
        # the bucket is checked on every request but never runs dry during the benchmark
        "RATE_LIMIT_CAPACITY": "1e12",
        "RATE_LIMIT_REFILL_PER_S": "1e12",
    }
    if services is not None:
        env["PYTHONPATH"] = os.pathsep.join(str(services / pkg) for pkg in ("gateway", "common"))
    proc = ServiceProcess(
        name, "agent_gateway", env, ready_url=f"http://127.0.0.1:{port}/ready", log_dir=stack.log_dir
    )
    proc.start().wait_ready()
    return proc


def export_services(rev: str, into: Path) -> Path:
    """The services/ folder of git revision `rev`, written under `into`."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", rev, "services"], cwd=REPO, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "services"


def create_session(gateway: str) -> str:
    request = urllib.request.Request(f"{gateway}/api/session", method="POST", data=b"")  # noqa: S310
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - loopback
        return str(json.loads(answer.read())["session_token"])


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def wrk(url: str, *, seconds: int, connections: int, headers: list[str] = ()) -> Result:  # type: ignore[assignment]
    cmd = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for header in headers:
        cmd[1:1] = ["-H", header]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Requests/sec" not in out or "50%" not in out:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)\s*$", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return Result(rps, p50, p99, errors + (int(non2xx.group(1)) if non2xx else 0), requests)


def median(results: list[Result]) -> Result:
    """The round with the median throughput (its latencies belong to that same round)."""
    ranked = sorted(results, key=lambda r: r.rps)
    return ranked[len(ranked) // 2]


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def profile(pid: int, out_dir: Path, seconds: int, run: callable) -> None:  # type: ignore[valid-type]
    """py-spy on the gateway while `run` loads it: flame graph and raw stacks in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():  # a profiling tool, not a dependency: installed when asked for
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "py-spy>=0.3.14"], check=True)
    raw = out_dir / "gateway.txt"
    proc = subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    run()
    proc.wait(timeout=seconds + 30)
    print(f"profile: {raw} (collapsed stacks; top self time below)")
    for line in top_frames(raw):
        print(f"  {line}")


def top_frames(raw: Path, count: int = 25) -> list[str]:
    self_time: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        leaf = stack.split(";")[-1]
        self_time[leaf] = self_time.get(leaf, 0) + int(n)
        total += int(n)
    top = sorted(self_time.items(), key=lambda kv: -kv[1])[:count]
    return [f"{100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the targets (median shown)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of load before each measured run")
    parser.add_argument("--profile", type=Path, help="record the gateway with py-spy into this folder")
    parser.add_argument(
        "--single",
        type=int,
        default=5,
        help="seconds per target with one connection (latency without queueing); 0: skip",
    )
    parser.add_argument(
        "--baseline", help="also measure the gateway of this git revision (target `baseline`)"
    )
    args = parser.parse_args()

    ensure_tools()
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    stack = Stack(work / "stack", ports=Ports.free(), durable=False)
    procs: list[subprocess.Popen[bytes]] = []
    others: list[ServiceProcess] = []
    gateway = None
    try:
        stack.start_infra()
        upstream_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
        procs.append(start_upstream(upstream_port, stack.log_dir))
        gateway = start_gateway(stack, gateway_port, upstream_port)
        procs.append(start_nginx(work / "nginx", upstream_port, nginx_port))
        token = create_session(f"http://127.0.0.1:{gateway_port}")
        targets = {
            "direct": (f"http://127.0.0.1:{upstream_port}/tasks", []),
            "gateway": (f"http://127.0.0.1:{gateway_port}/api/tasks", [f"Authorization: Bearer {token}"]),
            "nginx": (f"http://127.0.0.1:{nginx_port}/tasks", []),
        }
        # whose CPU time counts for each target: the proxy's (the upstream's when direct)
        measured_pids = {
            "direct": [procs[0].pid],
            "gateway": [gateway.pid],
            "nginx": [procs[1].pid, *children(procs[1].pid)],
        }
        if args.baseline:
            baseline_port = free_port()
            baseline = start_gateway(
                stack,
                baseline_port,
                upstream_port,
                name="gateway-baseline",
                services=export_services(args.baseline, work / "baseline"),
            )
            others.append(baseline)
            print(f"baseline: the gateway of {args.baseline}")
            targets["baseline"] = (
                f"http://127.0.0.1:{baseline_port}/api/tasks",
                [f"Authorization: Bearer {token}"],
            )
            measured_pids["baseline"] = [baseline.pid]
        print(f"load average before: {loadavg()}  (cores: {os.cpu_count()})")

        def measure(name: str) -> Result:
            url, headers = targets[name]
            if args.warmup:
                wrk(url, seconds=args.warmup, connections=args.connections, headers=headers)
            before = cpu_seconds(measured_pids[name])
            result = wrk(url, seconds=args.duration, connections=args.connections, headers=headers)
            result.cpu_us = (cpu_seconds(measured_pids[name]) - before) / max(result.requests, 1) * 1e6
            return result

        if args.profile:
            profile(gateway.pid, args.profile, args.duration, lambda: measure("gateway"))
        results: dict[str, list[Result]] = {name: [] for name in targets}
        for _ in range(args.rounds):
            for name in targets:
                results[name].append(measure(name))
        single = {}
        if args.single:
            for name, (url, headers) in targets.items():
                single[name] = wrk(url, seconds=args.single, connections=1, headers=headers)
        print(f"load average after:  {loadavg()}")
        figures = report({name: median(rs) for name, rs in results.items()}, results, args)
        if single:
            figures.update(report_single(single, args))
        record("gateway", figures)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        if gateway is not None:
            gateway.stop(10)
        for other in others:
            other.stop(10)
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(
    best: dict[str, Result], all_results: dict[str, list[Result]], args: argparse.Namespace
) -> dict[str, float]:
    direct = best["direct"]
    print(f"\nwrk -t{WRK_THREADS} -c{args.connections} -d{args.duration}s, median of {args.rounds} rounds")
    print(
        f"{'target':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'added p50 ms':>13} {'errors':>7}"
        f" {'cpu us/req':>11}  rounds req/s"
    )
    for name, r in best.items():
        added = "" if name == "direct" else f"{r.p50_ms - direct.p50_ms:.3f}"
        rounds = " ".join(f"{x.rps:.0f}" for x in all_results[name])
        print(
            f"{name:<9} {r.rps:>9.0f} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} {added:>13} {r.errors:>7}"
            f" {r.cpu_us:>11.1f}  {rounds}"
        )
    figures = {
        f"gateway_bench_{name}_{key}": getattr(r, key)
        for name, r in best.items()
        for key in ("rps", "p50_ms", "p99_ms", "cpu_us")
    }
    figures["gateway_vs_nginx_ratio"] = best["gateway"].rps / best["nginx"].rps
    figures["gateway_added_p50_ms"] = best["gateway"].p50_ms - direct.p50_ms
    print(f"\ngateway_vs_nginx_ratio: {figures['gateway_vs_nginx_ratio']:.3f}")
    print(f"gateway_added_p50_ms: {figures['gateway_added_p50_ms']:.3f}")
    return figures


def report_single(results: dict[str, Result], args: argparse.Namespace) -> dict[str, float]:
    """One connection: what each hop adds to one request, without queueing behind others."""
    direct = results["direct"]
    print(f"\nwrk -t{WRK_THREADS} -c1 -d{args.single}s (one request at a time)")
    print(f"{'target':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'added p50 ms':>13}")
    for name, r in results.items():
        added = "" if name == "direct" else f"{r.p50_ms - direct.p50_ms:.3f}"
        print(f"{name:<9} {r.rps:>9.0f} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} {added:>13}")
    added = {
        f"{name}_added_p50_ms_c1": results[name].p50_ms - direct.p50_ms
        for name in results
        if name != "direct"
    }
    print(f"\ngateway_added_p50_ms_c1: {added['gateway_added_p50_ms_c1']:.3f}")
    return added


if __name__ == "__main__":
    main()
