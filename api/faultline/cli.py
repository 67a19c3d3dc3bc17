"""`faultline` command: database chores and running the API.

faultline migrate          apply schema migrations (what the compose `migrate` job runs)
faultline seed [--size N]  load the demo catalogue (idempotent)
faultline setup            migrate, then seed
faultline makemigrations   write a migration for model changes (developers)
faultline serve            run the API with uvicorn (uvloop + httptools)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tortoise import Tortoise


async def _migrate() -> None:
    from tortoise.migrations.api import migrate

    from faultline.db.config import tortoise_config

    await migrate(config=tortoise_config())
    await Tortoise.close_connections()


async def _seed(size: int) -> int:
    from faultline.db.config import tortoise_config
    from faultline.seed import seed

    await Tortoise.init(config=tortoise_config())
    try:
        return await seed(size)
    finally:
        await Tortoise.close_connections()


async def _makemigrations(name: str | None) -> int:
    from tortoise.cli.cli import run_cli_async

    args = ["-c", "faultline.db.tortoise_cli.TORTOISE_ORM", "makemigrations"]
    return await run_cli_async([*args, "--name", name] if name else args)


def main(argv: list[str] | None = None) -> int:
    from faultline.seed import DEFAULT_CATALOGUE_SIZE

    parser = argparse.ArgumentParser(
        prog="faultline", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply schema migrations")
    seed_parser = sub.add_parser("seed", help="load the demo catalogue (idempotent)")
    seed_parser.add_argument("--size", type=int, default=DEFAULT_CATALOGUE_SIZE)
    setup_parser = sub.add_parser("setup", help="migrate, then seed")
    setup_parser.add_argument("--size", type=int, default=DEFAULT_CATALOGUE_SIZE)
    make_parser = sub.add_parser("makemigrations", help="write a migration for model changes")
    make_parser.add_argument("--name")
    serve_parser = sub.add_parser("serve", help="run the API")
    serve_parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  (inside a container)
    serve_parser.add_argument("--port", type=int, default=8000)
    control_parser = sub.add_parser("control", help="run the control service")
    control_parser.add_argument("--host", default="0.0.0.0")  # noqa: S104  (inside a container)
    control_parser.add_argument("--port", type=int, default=8080)
    sub.add_parser("faults", help="show every fault and its state")
    fault_parser = sub.add_parser("fault", help="turn a fault on (or --off)")
    fault_parser.add_argument("name")
    fault_parser.add_argument("params", nargs="*", help="key=value (JSON values)")
    fault_parser.add_argument("--ttl", type=int, help="seconds until it switches itself off")
    fault_parser.add_argument("--off", action="store_true")
    sub.add_parser("heal", help="turn every fault off")
    pages_parser = sub.add_parser("pages", help="the pager: incidents Alertmanager paged")
    pages_parser.add_argument("--ack", metavar="ID", help="acknowledge this incident first")
    sub.add_parser("hint", help="a self-paced drill: unlock the next hint")
    diagnose_parser = sub.add_parser(
        "diagnose", help="a self-paced drill: submit the cause (no CAUSE: list the choices)"
    )
    diagnose_parser.add_argument("cause", nargs="?", help="the letter of the cause")
    diagnose_parser.add_argument("evidence", nargs="*", help="the evidence, in a sentence")
    sub.add_parser("drills", help="self-paced drills: every score, and progress")
    args = parser.parse_args(argv)

    if args.command in ("hint", "diagnose", "drills"):
        from faultline.control import client

        if args.command == "hint":
            return client.hint()
        if args.command == "diagnose":
            return client.diagnose(args.cause, " ".join(args.evidence))
        return client.show_drills()
    if args.command in ("faults", "fault", "heal", "pages"):
        from faultline.control import client

        if args.command == "faults":
            return client.show_faults()
        if args.command == "pages":
            return client.show_pages(args.ack)
        if args.command == "heal":
            return client.heal()
        return client.set_fault(args.name, args.params, args.ttl, args.off)

    if args.command in ("migrate", "setup"):
        asyncio.run(_migrate())
        print("migrations applied")
    if args.command in ("seed", "setup"):
        total = asyncio.run(_seed(args.size))
        print(f"catalogue ready: {total} products")
    if args.command == "makemigrations":
        return asyncio.run(_makemigrations(args.name))
    if args.command in ("serve", "control"):
        serve(args.command, args.host, args.port)
    return 0


def serve(command: str, host: str, port: int) -> None:
    """uvicorn with uvloop + httptools; the API drains before it stops (faultline.shutdown)."""
    import uvicorn

    from faultline.config import get_settings
    from faultline.shutdown import DrainingServer

    settings = get_settings()
    if command == "control":
        from faultline.exposure import exposure_problem

        problem = exposure_problem(settings, host)
        if problem:
            raise SystemExit(f"faultline control: {problem}")
    config = uvicorn.Config(
        "faultline.main:create_app"
        if command == "serve"
        else "faultline.control.app:create_control_app",
        factory=True,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the app logs each request once, with its request id
        log_config=None,  # and its own start-up line, as JSON like every other line
        # X-Forwarded-For only from the proxies FORWARDED_ALLOW_IPS names (none by default):
        # otherwise any client could pick the address the audit log and the rate limit see.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_seconds),
    )
    drain = settings.shutdown_drain_seconds if command == "serve" else 0
    DrainingServer(config, drain_seconds=drain).run()


if __name__ == "__main__":
    sys.exit(main())
