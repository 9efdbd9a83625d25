"""``orderlab``: the lab's command line.

orderlab cloud start|stop|status|reset   the local cloud (start prints the endpoint last)
orderlab run [-p NAME VALUE ...]   the whole series headless -> runs/latest/, with a summary
orderlab class --learners N        the series for N learner prefixes at once -> runs/class-<time>/report.html
orderlab grade --prefix P          which steps a prefix has deployed correctly, and each exercise's state
orderlab grade --class --watch     a live progress table of every learner on this cloud (--once: one table)
orderlab answer-key -o FILE.html   every exercise's prompt, solution and expected output (from runs/latest)
orderlab page start|stop|status [--prefix P]   the order page, served by a process of its own
orderlab clean [--prefix P]        delete everything the lab created (by tag), verify none remains
                                   (and stop the prefix's order page)
orderlab cleanup --class [DIR]     the same for every learner of a class run
orderlab iac export [--prefix P] [-o FILE]   the pipeline as an AWS SAM template (default infra/template.yaml)
orderlab iac deploy --prefix P     deploy it as stack P-order-pipeline (change set), print its outputs
orderlab iac delete --prefix P     delete that stack and verify nothing of P remains
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import localcloud
from helpers.core.lab import Lab
from helpers.core.naming import DEFAULT_PREFIX
from helpers.core.paths import REPO_ROOT
from helpers.core.target import TargetError, resolve_target

# The series (runner), grading and cleanup are imported inside the commands that use them: they load
# Jupyter, pandas and every step (~1 s), which `orderlab cloud ...` does not need.

CLASS_EPILOG = """\
examples:
  orderlab class --learners 3 --concurrency 2                 # learner01..03, whole series, local cloud
  orderlab class --learners 3 --notebooks 00,01 --grade       # a quick class on notebooks 00 and 01, graded
  orderlab class --prefixes alice,bob --target aws -p confirm_account 123456789012 --cleanup
  orderlab grade --class                                      # grade every learner of the latest class run
  orderlab cleanup --prefix learner02                         # one learner; the others are untouched
  orderlab cleanup --class                                    # every learner of the latest class run

Each learner is a resource prefix: everything it creates is named <prefix>-... and tagged with it,
so learners share one cloud (one local cloud, or one AWS account) without touching each other.
The report (runs/class-<time>/report.html and report.json) shows, per learner and notebook,
pass/fail, duration and the failing check's message, with links to the executed notebooks.
"""


LEARNER_MODE_HELP = (
    "run as a learner pressing Run All: solutions off (-p solutions false), so no solution applies itself and "
    "an exercise check that is not met says 'not done yet' instead of failing the notebook"
)


def _run_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The notebook parameters of ``run``/``class``: ``-p NAME VALUE`` pairs, and ``--learner-mode``."""
    parameters = {name: _parse_value(value) for name, value in (args.parameter or [])}
    if args.learner_mode:
        parameters["solutions"] = False
    return parameters


def _add_parameter_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``-p NAME VALUE`` (repeatable), read back by :func:`_run_parameters`: ``_add_parameter_option(run, "...")``."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), help=help_text)


def _add_class_option(parser: argparse.ArgumentParser) -> None:
    """``--class [DIR]``: every learner of a class run, read by :func:`_class_dir`: ``_add_class_option(grade)``."""
    parser.add_argument(
        "--class",
        dest="class_dir",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="every learner of a class run (default: the latest runs/class-*)",
    )


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
    if args.action == "start":
        status = localcloud.start(
            args.port, enforce_iam=True if args.enforce_iam else None, persist=False if args.no_persist else None
        )
        if status.note:
            print(f"local cloud: {status.note}")
        print(status.describe())
        print(status.endpoint)
    elif args.action == "reset":
        print(localcloud.reset(args.port).describe())
    elif args.action == "stop":
        report = localcloud.stop(args.port)
        if report.stopped:
            print(
                f"local cloud on port {report.port} stopped in {report.seconds:.1f} s "
                f"({len(report.killed)} process(es){', forced' if report.forced else ''})"
            )
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
    from helpers.teach.runner import run_series, summary_table  # imported on use (see the top)

    parameters = _run_parameters(args)
    target = resolve_target(parameters.get("target"))
    parameters.setdefault("target", target.kind)
    was_running = target.is_local and localcloud.status().running
    output_dir = Path(args.output or REPO_ROOT / "runs" / "latest")
    print(f"Running the series on {target.describe()} -> {output_dir}")
    try:
        results = run_series(output_dir, parameters)
    finally:
        if target.is_local and not was_running and not args.keep_cloud:
            from helpers.learn.page import stop_page  # imported on use (see the top)

            stop_page(parameters.get("prefix") or _default_prefix())
            localcloud.stop()
    print()
    print(summary_table(results))
    return 0 if all(r.ok for r in results) else 1


def _class_dir(value: str | None) -> Path:
    """The class run folder: ``value``, or the newest ``runs/class-*`` with a report."""

    if value:
        path = Path(value)
    else:
        runs = sorted(p for p in (REPO_ROOT / "runs").glob("class-*") if (p / "report.json").is_file())
        if not runs:
            raise TargetError("no class run found under runs/ (run `orderlab class` first, or pass its folder)")
        path = runs[-1]
    if not (path / "report.json").is_file():
        raise TargetError(f"{path} is not a class run folder (it has no report.json)")
    return path


def _class_prefixes(path: Path) -> tuple[list[str], str | None]:

    report = json.loads((path / "report.json").read_text(encoding="utf-8"))
    return [learner["prefix"] for learner in report["learners"]], (report.get("parameters") or {}).get("target")


def _cmd_class(args: argparse.Namespace) -> int:
    from helpers.teach.runner import (  # imported on use (see the top)
        class_output_dir,
        class_prefixes,
        run_class,
        select_notebooks,
        summary_table,
    )

    parameters = _run_parameters(args)
    if args.target:
        parameters["target"] = args.target
    target = resolve_target(parameters.get("target"))
    parameters.setdefault("target", target.kind)
    if args.prefixes:
        prefixes = [p.strip() for p in args.prefixes.split(",") if p.strip()]
    else:
        prefixes = class_prefixes(args.learners, args.prefix_base)
    notebooks = select_notebooks(args.notebooks.split(",") if args.notebooks else None)
    output_dir = Path(args.output) if args.output else class_output_dir()
    was_running = target.is_local and localcloud.status().running
    if target.is_local:
        localcloud.start()  # once, before the learners' kernels connect to it
    print(
        f"Class of {len(prefixes)} ({', '.join(prefixes)}) on {target.describe()}, {args.concurrency} at a time, "
        f"notebooks {', '.join(p.name[:2] for p in notebooks)} -> {output_dir}"
    )
    try:
        run = run_class(
            prefixes,
            output_dir,
            parameters,
            notebooks=notebooks,
            concurrency=args.concurrency,
            grade=args.grade,
            cleanup=args.cleanup,
            learner_timeout=args.learner_timeout,
        )
    finally:
        if target.is_local and not was_running and not args.keep_cloud:
            from helpers.learn.page import stop_page  # imported on use (see the top)

            for prefix in prefixes:
                stop_page(prefix)
            localcloud.stop()
    for learner in run.learners:
        print(f"\n{learner.prefix}: {'passed' if learner.ok else 'FAILED'} ({learner.seconds:.1f} s)")
        print(summary_table(learner.results))
    print(f"\n{sum(learner.ok for learner in run.learners)}/{len(run.learners)} learners passed in {run.seconds:.1f} s")
    print(f"Report: {output_dir / 'report.html'}")
    return 0 if run.ok else 1


def _cmd_grade(args: argparse.Namespace) -> int:

    from helpers.teach.grade import grade_lab, watch_class  # imported on use (see the top)

    target = args.target
    prefixes = list(args.prefix or [])
    if args.watch:
        if args.class_dir:  # a class run's folder: its learners
            class_prefixes, class_target = _class_prefixes(_class_dir(args.class_dir))
            prefixes += class_prefixes
            target = target or class_target
        iterations = 1 if args.once else args.iterations
        watch_class(
            lambda prefix: Lab.connect(target, prefix), prefixes or None, interval=args.interval, iterations=iterations
        )
        return 0
    if args.class_dir is not None:
        class_prefixes, class_target = _class_prefixes(_class_dir(args.class_dir or None))
        prefixes += class_prefixes
        target = target or class_target
    if not prefixes:
        prefixes = [None]
    steps = args.steps.split(",") if args.steps else None
    reports = [
        grade_lab(Lab.connect(target, prefix), [s.strip().zfill(2) for s in steps] if steps else None)
        for prefix in prefixes
    ]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2, default=str))
    else:
        print("\n".join(r.summary() for r in reports))
    return 0 if all(len(r.done) == len(r.steps) for r in reports) else 1


def _default_prefix() -> str:
    return os.environ.get("ORDERLAB_PREFIX") or DEFAULT_PREFIX


def _cmd_page(args: argparse.Namespace) -> int:
    from helpers.learn.page import page_status, publish_frontend, stop_page  # imported on use (see the top)
    from helpers.pipeline.step1 import ingestion_status

    if args.action == "stop":
        prefix = args.prefix or _default_prefix()
        print(f"order page of prefix {prefix!r} {'stopped' if stop_page(prefix) else 'was not running'}")
        return 0
    if args.action == "status":
        prefix = args.prefix or _default_prefix()
        running = page_status(prefix)
        print(running.describe() if running else f"order page of prefix {prefix!r} is not running")
        return 0 if running else 3
    lab = Lab.connect(args.target, args.prefix)
    orders_url = ingestion_status(lab)["api"]["orders_url"]
    if not orders_url:
        print(f"prefix {lab.prefix!r} has no order API yet: run notebook 01 (step 1) first", file=sys.stderr)
        return 1
    url = publish_frontend(lab, orders_url.removesuffix("/orders"), port=args.port)
    running = page_status(lab.prefix)
    print(running.describe() if running else f"order page of prefix {lab.prefix!r} on {url}")
    print(url)
    return 0


def _cmd_answer_key(args: argparse.Namespace) -> int:
    from helpers.teach.answer_key import write_answer_key  # imported on use (see the top)

    run_dir = Path(args.run_dir) if args.run_dir else REPO_ROOT / "runs" / "latest"
    key = write_answer_key(run_dir, Path(args.output))
    print(f"answer key of {len(key.exercises)} exercise(s) from {run_dir} -> {key.output}")
    return 0


def _cmd_clean(args: argparse.Namespace) -> int:
    if args.class_dir is not None:
        return _clean_class(args)
    from helpers.learn.page import stop_page  # imported on use (see the top)
    from helpers.ops.cleanup import destroy_lab

    lab = Lab.connect(args.target, args.prefix)
    if stop_page(lab.prefix):
        print(f"Stopped the order page of prefix {lab.prefix!r}")
    print(f"Deleting every resource tagged for prefix {lab.prefix!r} on {lab.target.describe()} ...")
    report = destroy_lab(lab)
    for item in report.deleted:
        print(f"  deleted {item}")
    for error in report.errors:
        print(f"  ERROR {error}")
    if report.remaining:
        print(f"{len(report.remaining)} resource(s) remain:")
        for item in report.remaining:
            print(f"  {item}")
        return 1
    print("Nothing remains.")
    if args.stop_cloud and lab.target.is_local:
        localcloud.stop()
    return 0 if not report.errors else 1


def _cmd_iac(args: argparse.Namespace) -> int:
    if args.action == "export":
        from helpers.pipeline.template import DEFAULT_TEMPLATE_PATH, export_template, lint_template

        path = export_template(Path(args.output) if args.output else DEFAULT_TEMPLATE_PATH, prefix=args.prefix)
        findings = lint_template(path.read_text())
        print(f"wrote {path}")
        for finding in findings:
            print(f"  cfn-lint {finding.rule} line {finding.line}: {finding.message}")
        print(f"cfn-lint: {len(findings)} finding(s)")
        return 1 if findings else 0
    from helpers import Lab
    from helpers.ops.iac import delete_stack, deploy_stack

    lab = Lab.connect(args.target, args.prefix)
    if args.action == "deploy":
        result = deploy_stack(
            lab,
            high_value_threshold=args.high_value_threshold,
            max_receive_count=args.max_receive_count,
            alert_email=args.alert_email,
            progress=print,
        )
        for change in result.changes:
            print(
                f"  {change.action:<8} {change.logical_id:<40} {change.resource_type}"
                + (f" (replacement: {change.replacement})" if change.replacement else "")
            )
        print(f"stack {result.stack_name}: {result.status}")
        for key, value in result.outputs.items():
            print(f"  {key} = {value}")
        return 0
    deletion = delete_stack(lab, progress=print)
    if deletion.sweep.remaining:
        print(f"{len(deletion.sweep.remaining)} resource(s) of prefix {lab.prefix!r} remain:")
        for item in deletion.sweep.remaining:
            print(f"  {item}")
        return 1
    print(
        f"stack {deletion.stack_name} {'deleted' if deletion.deleted else 'did not exist'}; "
        f"nothing of prefix {lab.prefix!r} remains"
    )
    return 0


def _clean_class(args: argparse.Namespace) -> int:
    from helpers.teach.runner import cleanup_prefix  # imported on use (see the top)

    path = _class_dir(args.class_dir or None)
    prefixes, class_target = _class_prefixes(path)
    target = args.target or class_target
    print(f"Cleaning up the class {path.name}: {', '.join(prefixes)}")
    failed = []
    for prefix in prefixes:
        result = cleanup_prefix(target, prefix)
        print(
            f"  {prefix}: deleted {result['deleted']}, "
            + (
                "nothing remains"
                if result["ok"]
                else f"{len(result['remaining'])} remain, {len(result['errors'])} error(s)"
            )
        )
        for item in result["remaining"] + result["errors"]:
            print(f"    {item}")
        if not result["ok"]:
            failed.append(prefix)
    if failed:
        print(f"NOT clean: {', '.join(failed)}")
        return 1
    print("Nothing remains for any learner of the class.")
    if args.stop_cloud and resolve_target(target).is_local:
        localcloud.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderlab", description="Order Pipeline Lab")
    sub = parser.add_subparsers(dest="command", required=True)

    cloud = sub.add_parser(
        "cloud",
        help="start, stop, inspect or reset the local cloud",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The lab's local cloud on 127.0.0.1 (pinned MiniStack + AWS-fidelity patches).",
        epilog="State: what you create (functions, tables and items, queues and messages, streams, pipes, "
        "alarms,\nsubscriptions, roles, the HTTP API) is kept in ~/.orderlab/cloud-<port>/state/ and "
        "survives\n'stop' then 'start' and a reboot. It is snapshotted every 2 s while it changes: "
        "after a crash\n(kill -9, power loss) 'start' says which moment it recovered and what may be "
        "lost.\n'reset' stops the cloud and deletes its saved state: the next 'start' is a clean slate.\n"
        "--no-persist (or ORDERLAB_PERSIST=0) keeps the state in memory only.",
    )
    cloud.add_argument(
        "action",
        choices=["start", "stop", "status", "reset"],
        help="start (idempotent), stop (graceful: the last snapshot is written), status, "
        "reset (stop + delete the saved state)",
    )
    cloud.add_argument(
        "--no-persist", action="store_true", help="start: keep the state in memory only (also ORDERLAB_PERSIST=0)"
    )
    cloud.add_argument(
        "--enforce-iam",
        action="store_true",
        help="start: check every call against IAM policies, as AWS does (also ORDERLAB_ENFORCE_IAM=1)",
    )
    cloud.add_argument("--port", type=int, default=None, help="default: ORDERLAB_PORT or 4599")
    cloud.set_defaults(func=_cmd_cloud)

    run = sub.add_parser("run", help="run the whole series headless into runs/latest/")
    _add_parameter_option(run, "a notebook parameter, e.g. -p prefix alice (repeatable)")
    run.add_argument("--output", help="where the executed notebooks go (default runs/latest)")
    run.add_argument("--keep-cloud", action="store_true", help="leave the local cloud running afterwards")
    run.add_argument("--learner-mode", action="store_true", help=LEARNER_MODE_HELP)
    run.set_defaults(func=_cmd_run)

    klass = sub.add_parser(
        "class",
        help="run the series for N learner prefixes at once, with an HTML/JSON report",
        description="Run the notebook series headless for several learners (one prefix each) against one cloud, "
        "at most --concurrency at a time; write runs/class-<time>/report.html and report.json.",
        epilog=CLASS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    who = klass.add_mutually_exclusive_group()
    who.add_argument("--learners", type=int, default=3, help="how many learners: prefixes <base>01.. (default 3)")
    who.add_argument("--prefixes", help="explicit learner prefixes, comma-separated (e.g. alice,bob)")
    klass.add_argument("--prefix-base", default="learner", help="the base of generated prefixes (default learner)")
    klass.add_argument("--concurrency", type=int, default=2, help="learners running at the same time (default 2)")
    klass.add_argument("--target", default=None, help="local (default), aws or endpoint; one cloud for everyone")
    klass.add_argument("--notebooks", help="only these notebook numbers, comma-separated (e.g. 00,01); default all")
    klass.add_argument("--grade", action="store_true", help="after each learner's run, grade its resources")
    klass.add_argument("--cleanup", action="store_true", help="then delete each learner's resources, verified")
    _add_parameter_option(klass, "a notebook parameter for every learner, e.g. -p demo_orders 5 (repeatable)")
    klass.add_argument("--output", help="the run's folder (default runs/class-<UTC time>)")
    klass.add_argument("--learner-mode", action="store_true", help=LEARNER_MODE_HELP)
    klass.add_argument(
        "--learner-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a learner's run after this long (default 15 minutes per notebook)",
    )
    klass.add_argument(
        "--keep-cloud",
        action="store_true",
        help="leave the local cloud running afterwards (needed to grade or clean up later without starting it again)",
    )
    klass.set_defaults(func=_cmd_class)

    grade = sub.add_parser("grade", help="inspect a learner's resources: which steps are done correctly")
    grade.add_argument("--prefix", action="append", help="a learner prefix (repeatable; default orderlab)")
    _add_class_option(grade)
    grade.add_argument("--target", default=None, help="local (default), aws or endpoint")
    grade.add_argument("--steps", help="only these steps, comma-separated (e.g. 01,02)")
    grade.add_argument("--json", action="store_true", help="print JSON instead of text")
    grade.add_argument(
        "--watch",
        action="store_true",
        help="a live progress table of every learner on this cloud (or of --class DIR / --prefix), until Ctrl-C",
    )
    grade.add_argument("--interval", type=float, default=5.0, help="--watch: seconds between refreshes (default 5)")
    how_long = grade.add_mutually_exclusive_group()
    how_long.add_argument("--once", action="store_true", help="--watch: print the table once and exit")
    how_long.add_argument("--iterations", type=int, default=None, help="--watch: refresh this many times, then exit")
    grade.set_defaults(func=_cmd_grade)

    page = sub.add_parser(
        "page",
        help="start, stop or inspect the order page (a process of its own, one port per prefix)",
        description="The order page for a prefix's API (deployed by notebook 01), served locally by a process "
        "that outlives the notebooks' kernels; start is idempotent and sets the API's CORS origin to the page's. "
        "On aws, start publishes the page as an S3 website instead.",
    )
    page.add_argument("action", choices=["start", "stop", "status"])
    page.add_argument("--prefix", default=None, help="the learner prefix (default ORDERLAB_PREFIX or orderlab)")
    page.add_argument("--target", default=None, help="local (default), aws or endpoint")
    page.add_argument("--port", type=int, default=None, help="start: default the prefix's own port (8000 for orderlab)")
    page.set_defaults(func=_cmd_page)

    key = sub.add_parser(
        "answer-key",
        help="every exercise's prompt, solution and expected output in one HTML file, from an instructor run",
    )
    key.add_argument(
        "-o", "--output", default="answer-key.html", help="the HTML file to write (default answer-key.html)"
    )
    key.add_argument(
        "--from",
        dest="run_dir",
        default=None,
        metavar="DIR",
        help="the executed notebooks of an instructor run (default runs/latest, written by `orderlab run`)",
    )
    key.set_defaults(func=_cmd_answer_key)

    clean = sub.add_parser(
        "clean", aliases=["cleanup"], help="delete everything the lab created and verify none remains"
    )
    clean.add_argument("--target", default=None, help="local (default), aws or endpoint")
    clean.add_argument("--prefix", default=None, help="the learner prefix (default orderlab)")
    _add_class_option(clean)
    clean.add_argument("--stop-cloud", action="store_true", help="also stop the local cloud")
    clean.set_defaults(func=_cmd_clean)

    iac = sub.add_parser("iac", help="the pipeline as infrastructure as code: export, deploy or delete its stack")
    iac.add_argument("action", choices=["export", "deploy", "delete"])
    iac.add_argument(
        "--prefix",
        default=None,
        help="the learner prefix (default ORDERLAB_PREFIX or orderlab); export: the Prefix parameter's default",
    )
    iac.add_argument("--target", default=None, help="local (default), aws or endpoint")
    iac.add_argument("-o", "--output", help="export: where to write the template (default infra/template.yaml)")
    iac.add_argument("--high-value-threshold", default=None, help="deploy: the HighValueThreshold parameter")
    iac.add_argument("--max-receive-count", type=int, default=None, help="deploy: the MaxReceiveCount parameter")
    iac.add_argument("--alert-email", default=None, help="deploy: the AlertEmail parameter ('' for none)")
    iac.set_defaults(func=_cmd_iac)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TargetError as exc:
        print(f"orderlab: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from helpers.core.errors import FriendlyError

        if isinstance(exc, localcloud.LocalCloudError | FriendlyError):
            print(f"orderlab: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
