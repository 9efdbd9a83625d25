"""``orderlab``: the lab's command line.

    orderlab cloud start|stop|status   the local cloud (start prints the endpoint last)
    orderlab run [-p NAME VALUE ...]   the whole series headless -> runs/latest/, with a summary
    orderlab clean [--prefix P]        delete everything the lab created (by tag), verify none remains
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from helpers.target import TargetError


def _parse_value(raw: str):
    """papermill-style: numbers and booleans are typed, everything else stays a string."""
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _cmd_cloud(args: argparse.Namespace) -> int:
    import localcloud

    if args.action == "start":
        status = localcloud.start(args.port)
        print(status.describe())
        print(status.endpoint)
    elif args.action == "stop":
        report = localcloud.stop(args.port)
        if report.stopped:
            print(f"local cloud on port {report.port} stopped in {report.seconds:.1f} s "
                  f"({len(report.killed)} process(es){', forced' if report.forced else ''})")
        else:
            print(f"local cloud on port {report.port} was not running")
    else:
        status = localcloud.status(args.port)
        print(status.describe())
        if status.running:
            print(status.endpoint)
        return 0 if status.running else 3
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import localcloud
    from helpers.runner import REPO_ROOT, run_series, summary_table
    from helpers.target import resolve_target

    parameters = {name: _parse_value(value) for name, value in (args.parameter or [])}
    target = resolve_target(parameters.get("target"))
    parameters.setdefault("target", target.kind)
    was_running = target.is_local and localcloud.status().running
    output_dir = Path(args.output or REPO_ROOT / "runs" / "latest")
    print(f"Running the series on {target.describe()} -> {output_dir}")
    try:
        results = run_series(output_dir, parameters)
    finally:
        if target.is_local and not was_running and not args.keep_cloud:
            localcloud.stop()
    print()
    print(summary_table(results))
    return 0 if all(r.ok for r in results) else 1


def _cmd_clean(args: argparse.Namespace) -> int:
    from helpers import Lab
    from helpers.cleanup import destroy_lab

    lab = Lab.connect(args.target, args.prefix)
    print(f"Deleting every resource tagged for prefix {lab.prefix!r} on {lab.target.describe()} ...")
    report = destroy_lab(lab)
    for item in report.deleted:
        print(f"  deleted {item}")
    for item in report.errors:
        print(f"  ERROR {item}")
    if report.remaining:
        print(f"{len(report.remaining)} resource(s) remain:")
        for item in report.remaining:
            print(f"  {item}")
        return 1
    print("Nothing remains.")
    if args.stop_cloud and lab.target.is_local:
        import localcloud

        localcloud.stop()
    return 0 if not report.errors else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderlab", description="Order Pipeline Lab")
    sub = parser.add_subparsers(dest="command", required=True)

    cloud = sub.add_parser("cloud", help="start, stop or inspect the local cloud")
    cloud.add_argument("action", choices=["start", "stop", "status"])
    cloud.add_argument("--port", type=int, default=None, help="default: ORDERLAB_PORT or 4599")
    cloud.set_defaults(func=_cmd_cloud)

    run = sub.add_parser("run", help="run the whole series headless into runs/latest/")
    run.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="a notebook parameter, e.g. -p prefix alice (repeatable)")
    run.add_argument("--output", help="where the executed notebooks go (default runs/latest)")
    run.add_argument("--keep-cloud", action="store_true", help="leave the local cloud running afterwards")
    run.set_defaults(func=_cmd_run)

    clean = sub.add_parser("clean", help="delete everything the lab created and verify none remains")
    clean.add_argument("--target", default=None, help="local (default), aws or endpoint")
    clean.add_argument("--prefix", default=None, help="the learner prefix (default orderlab)")
    clean.add_argument("--stop-cloud", action="store_true", help="also stop the local cloud")
    clean.set_defaults(func=_cmd_clean)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TargetError as exc:
        print(f"orderlab: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from localcloud import LocalCloudError

        if isinstance(exc, LocalCloudError):
            print(f"orderlab: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
