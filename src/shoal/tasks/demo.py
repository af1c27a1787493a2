"""The demo task type ``shoal-DemoTask``: a few sleeping steps that write log lines.

Who uses it: ``make demo`` (so a fresh install has a task to look at), the
browser test of the live log tail, and anyone trying the engine from the CLI
(``shoal task demo --project P``). It touches nothing outside its own log, so
every step is trivially idempotent.

Params: ``lines`` (log lines written by the middle step, default 5),
``interval`` (seconds between them, default 1), ``fail`` (make the check step
fail, to try retry and skip).
"""

from __future__ import annotations

from shoal.tasks.registry import REGISTRY, PermanentError, StepContext

__all__ = ["DEMO_TASK"]

DEMO_TASK = "shoal-DemoTask"


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


@REGISTRY.step("runDemoTask", title_en="Write log lines", title_zh="输出日志", timeout=3600)
async def run(ctx: StepContext) -> None:
    lines = int(_number(ctx, "lines", 5, 0, 1000))
    interval = _number(ctx, "interval", 1.0, 0.0, 60.0)
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
)
