"""``make demo``: the embedded default with something to look at.

Starts the real server (SQLite in ``./data/demo`` unless SHOAL_DATA_DIR says
otherwise) after seeding a business maintained by admin and a project bound to
it, and prints where to go and how to log in. Seeding is idempotent, so running
``make demo`` again keeps what you did last time.
"""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import select

from shoal.business.builtin import add_business
from shoal.context import AppContext
from shoal.core.config import Settings, load_settings
from shoal.core.logging import configure_logging
from shoal.iam.accounts import get_user, load_principal
from shoal.projects.service import create_project, enable_project
from shoal.server import PASSWORD_FILE, prepare, serve
from shoal.store.models import Business, Project

DEMO_BUSINESS = (100, "演示业务 Demo Business")
DEMO_PROJECT = ("demo", "演示项目 Demo")
SANDBOX_PROJECT = ("sandbox", "沙箱 Sandbox (not enabled yet)")


async def seed(ctx: AppContext) -> None:
    """Create the demo business and projects once; leave them alone on later runs."""
    async with ctx.db.session() as session:
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        if await session.get(Business, DEMO_BUSINESS[0]) is None:
            await add_business(session, admin, DEMO_BUSINESS[0], DEMO_BUSINESS[1], ["admin"])
        for code, name in (DEMO_PROJECT, SANDBOX_PROJECT):
            if await session.scalar(select(Project.id).where(Project.code == code)) is None:
                await create_project(session, admin, code, name, "Created by make demo.")
        admin = await load_principal(session, await get_user(session, "admin"), via="demo")
        demo = await session.scalar(select(Project).where(Project.code == DEMO_PROJECT[0]))
        if demo is not None and not demo.enabled:
            await enable_project(session, admin, ctx.directory, DEMO_PROJECT[0], DEMO_BUSINESS[0])
    await ctx.db.dispose()


def banner(settings: Settings) -> str:
    password_file = settings.data_dir / PASSWORD_FILE
    if settings.admin_password:
        how = "password from SHOAL_ADMIN_PASSWORD"
    elif password_file.exists():
        how = f"password: {password_file.read_text().strip()}  (from {password_file})"
    else:
        how = "the password you set earlier"
    return "\n".join([
        "",
        "  Shoal demo is starting",
        f"  URL:      {settings.base_url}/",
        f"  Log in:   admin / {how}",
        f"  Data dir: {settings.data_dir.resolve()}  (delete it to start over)",
        "  Stop:     Ctrl-C",
        "",
    ])


def main() -> None:
    os.environ.setdefault("SHOAL_DATA_DIR", "data/demo")
    settings = load_settings()
    configure_logging(settings.log_level, as_json=False)
    ctx, _ = asyncio.run(prepare(settings))
    asyncio.run(seed(ctx))
    print(banner(settings), flush=True)
    serve(settings, ctx)


if __name__ == "__main__":
    main()
