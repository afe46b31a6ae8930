"""Argo CD's Lua health scripts, run with LuaJIT through lupa.

Argo CD runs them with gopher-lua (Lua 5.1 plus `goto`): LuaJIT 2.1 speaks the same dialect
(`table.getn`, `goto` both work). Semantics follow util/lua/lua.go at v3.5.1:
runLuaWithResourceActionParameters (the `obj` global, which libraries are open) and
ExecuteHealthLua (how the returned table becomes a health status).
"""

from __future__ import annotations

from typing import Any

from lupa import luajit21

from tests.manifests.syncmodel.objects import Obj

VALID = ("Unknown", "Progressing", "Suspended", "Healthy", "Degraded", "Missing")  # isValidHealthStatusCode
# With UseOpenLibs false (a script from argocd-cm without useOpenLibs) gopher-lua opens only
# package, base, table and a safe os: hide what LuaJIT opens on top of those.
_CLOSED_LIBS = ("string", "math", "io", "debug", "coroutine", "jit", "bit", "ffi")
_SAFE_OS = ("time", "date", "clock", "difftime")  # util/lua/oslib_safe.go


class LuaError(Exception):
    """The script failed to run: Argo CD reports the resource's health as Unknown."""


def _to_lua(runtime: Any, value: Any) -> Any:
    """layeh.com/gopher-json decodeValue: maps to tables, lists to 1-based tables, null to nil."""
    if isinstance(value, dict):
        table = runtime.table()
        for k, v in value.items():
            if v is not None:
                table[k] = _to_lua(runtime, v)
        return table
    if isinstance(value, list):
        table = runtime.table()
        for i, v in enumerate(value, start=1):
            table[i] = _to_lua(runtime, v)
        return table
    return value


def _restrict(runtime: Any) -> None:
    g = runtime.globals()
    for lib in _CLOSED_LIBS:
        g[lib] = None
    os_table = runtime.table()
    for name in _SAFE_OS:
        os_table[name] = g.os[name]
    g.os = os_table


def run_health_script(script: str, obj: Obj, open_libs: bool) -> tuple[str, str] | None:
    """The (status, message) a script returns for obj, as ExecuteHealthLua decodes it.

    None stands for Go's empty HealthStatus{} (a nil or empty table): status "".
    A status outside the valid codes becomes Unknown with Argo CD's own message.
    """
    runtime = luajit21.LuaRuntime(unpack_returned_tuples=False)
    if not open_libs:
        _restrict(runtime)
    runtime.globals().obj = _to_lua(runtime, obj)
    try:
        result = runtime.execute(script)
    except Exception as exc:  # lupa raises LuaError and LuaSyntaxError
        raise LuaError(str(exc)) from exc
    if result is None:
        return None
    if not hasattr(result, "items"):
        raise LuaError(f"expect table output from Lua script, not {type(result).__name__}")
    fields = dict(result.items())
    if not fields:
        return None  # an empty table encodes as [] and decodes to an empty status
    status, message = fields.get("status", ""), fields.get("message", "")
    if not isinstance(status, str) or not isinstance(message, str):
        raise LuaError("json: cannot unmarshal the Lua result into a HealthStatus")
    if status not in VALID:
        return "Unknown", "Lua returned an invalid health status"
    return status, message
