"""The demo task type ``shoal-DemoTask``: a few sleeping steps that write log lines.

Who uses it: ``make demo`` (so a fresh install has a task to look at), the
browser test of the live log tail, and anyone trying the engine from the CLI
(``shoal task demo --project P``). It touches nothing outside its own log, so
every step is trivially idempotent.

Params: ``lines`` (log lines written by the middle step, default 5, at most
100), ``interval`` (seconds between them, default 1, at most 5), ``fail`` (make
the check step fail, to try retry and skip). A demo task thus lasts under nine
minutes.

It can only be started while the demo runs (``Settings.demo``, which ``make demo``
turns on with ``SHOAL_DEMO=true``): on a production server it would do nothing
but hold a worker slot, and users could start many (issue 13).
"""

from __future__ import annotations

from typing import Any

from shoal.core.errors import Invalid
from shoal.tasks.registry import REGISTRY, PermanentError, StepContext

__all__ = ["DEMO_TASK", "MAX_INTERVAL", "MAX_LINES", "check_params"]

DEMO_TASK = "shoal-DemoTask"
#: Caps on the params: at most 100 lines 5 s apart, so a demo task ends within 500 s of writing.
MAX_LINES = 100
MAX_INTERVAL = 5.0


def check_params(params: dict[str, Any]) -> None:
    """Refuse params that would make a demo task run long (the steps clamp them as well)."""
    for key, default, high in (("lines", 5, MAX_LINES), ("interval", 1.0, MAX_INTERVAL)):
        value = params.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
            raise Invalid("error.demo_param", field=f"params.{key}", name=key, value=str(value)[:32], max=high)


def _number(ctx: StepContext, key: str, default: float, low: float, high: float) -> float:
    try:
        value = float(ctx.params.get(key, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


@REGISTRY.step("prepareDemoTask", title_en="Prepare", title_zh="准备")
async def prepare(ctx: StepContext) -> None:
    await ctx.log.info(f"preparing demo task for project {ctx.project_code}")
    ctx.state["prepared"] = True


@REGISTRY.step("runDemoTask", title_en="Write log lines", title_zh="输出日志", timeout=600)
async def run(ctx: StepContext) -> None:
    lines = int(_number(ctx, "lines", 5, 0, MAX_LINES))
    interval = _number(ctx, "interval", 1.0, 0.0, MAX_INTERVAL)
    for index in range(1, lines + 1):
        await ctx.log.info(f"demo line {index} of {lines}")
        if index < lines:
            await ctx.sleep(interval)


@REGISTRY.step("checkDemoTask", title_en="Check result", title_zh="检查结果", allow_skip=True)
async def check(ctx: StepContext) -> None:
    if ctx.params.get("fail"):
        raise PermanentError("the demo was asked to fail (param fail=true)")
    await ctx.log.info("result looks good")


@REGISTRY.step("finishDemoTask", title_en="Finish", title_zh="完成")
async def finish(ctx: StepContext) -> None:
    await ctx.log.info("demo task done")


REGISTRY.task_type(
    DEMO_TASK,
    title_en="Demo task",
    title_zh="演示任务",
    steps=["prepareDemoTask", "runDemoTask", "checkDemoTask", "finishDemoTask"],
    startable=True,
    demo_only=True,
    check_params=check_params,
)
