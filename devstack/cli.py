"""`bin/local-stack up|down|status|env|ui`: the command over the stack (`devstack.stack`) and its UIs (`devstack.ui`).

Kept apart from both so that neither imports the other's caller: the UI needs the stack's state and environment,
and stopping or reporting the stack includes its UIs.
"""

from __future__ import annotations

import argparse
import sys

from devstack import stack, ui


def down() -> None:
    if stopped := ui.stop_all():
        print(f"Airflow UI stopped: {', '.join(stopped)}", file=sys.stderr)
    stack.down()


def status() -> int:
    if not stack.STATE_FILE.exists():
        print("local stack: not created (run `bin/local-stack up`)")
        return 1
    state, healthy = stack.status()
    if "ui_port" in state:
        info = ui.status()
        names = ", ".join(info["running"]) or "nothing running"
        print(f"ui:       {'up' if info['healthy'] else 'down'} ({info['url']}; {names})")
    return 0 if healthy else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-stack", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "ui"])
    args = parser.parse_args(argv)
    if args.command in ("up", "ui"):
        stack.up()
        if args.command == "ui":
            return ui.main()
    elif args.command == "down":
        down()
    elif args.command == "status":
        return status()
    else:
        stack.print_env()
    return 0


if __name__ == "__main__":
    sys.exit(main())
