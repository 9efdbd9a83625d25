"""What the lab creates, where, and what it costs: the tables of notebook 00 and the plan shown
before anything is created on a real account.

>>> plan_frame(lab)          # every resource the series creates for this prefix   # doctest: +SKIP
>>> print(plan_text(lab))    # account, region, names, tags, resources, cost      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import localcloud
from helpers.aws.runtime import describe_runtime, lambda_runtime
from helpers.core import naming
from helpers.core.lab import Lab
from helpers.learn.cost import LabUsage, estimate_frame, summary_line
from helpers.pipeline.catalog import RESOURCES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["cost_frame", "environment_frame", "plan_frame", "plan_text"]


def plan_frame(lab: Lab) -> pd.DataFrame:
    """Every resource the series creates for this prefix (the catalog's), with its name and console location."""
    # pandas on use: `import helpers` loads this module (the account gate's plan)
    import pandas as pd

    runtime = lambda_runtime()
    rows = [
        {
            "step": resource.step,
            "service": resource.service,
            "name": resource.name_for(lab.prefix),
            "kind": resource.kind.format(runtime=runtime),
            "console": resource.console,
        }
        for resource in RESOURCES
    ]
    return pd.DataFrame(rows)


def plan_text(lab: Lab) -> str:
    """The plan as plain text (what an unconfirmed ``aws`` connection shows before creating anything):
    where, under which names and tags, every resource of the series, and the cost estimate."""
    frame = plan_frame(lab)
    lines = [
        f"Plan for prefix {lab.prefix!r} on {lab.target.describe()}:",
        f"  every resource is named {lab.prefix}-* and tagged "
        f"{naming.PROJECT_TAG}={naming.PROJECT}, {naming.PREFIX_TAG}={lab.prefix}",
        f"  {len(frame)} resources over the steps {', '.join(sorted(set(frame['step'])))} "
        "(each notebook creates only its step's):",
        f"  Lambda functions run on {describe_runtime()}",
    ]
    lines += [f"    {row.step}  {row.service:<17} {row.name:<45} {row.kind}" for row in frame.itertuples()]
    lines.append(f"  Cost: {summary_line()}")
    lines.append("  Cleanup: run cleanup.ipynb (or `orderlab clean`); it proves that nothing remains.")
    return "\n".join(lines)


def cost_frame(orders: int = 1_000, *, memory_mb: int = 256, avg_duration_ms: float = 50) -> pd.DataFrame:
    """The estimate for ``orders`` orders through the whole lab (see :func:`helpers.learn.cost.estimate_frame`)."""
    return estimate_frame(LabUsage(orders=orders, memory_mb=memory_mb, avg_duration_ms=avg_duration_ms))


def environment_frame(lab: Lab) -> pd.DataFrame:
    """Where the lab runs: target, endpoint, region and (locally) the local cloud's state."""
    # pandas on use: `import helpers` loads this module (the account gate's plan)
    import pandas as pd

    rows = [
        ("target", lab.target.kind),
        ("where", lab.target.describe()),
        ("region", lab.region),
        ("prefix", lab.prefix),
        ("Lambda runtime of the lab's functions", describe_runtime()),
    ]
    if lab.needs_confirmation:
        rows.append(("account (confirmed)", lab.account_id if lab.confirmed else "NOT confirmed"))
    if lab.target.is_local:
        status = localcloud.status(lab.target.port)
        rows += [
            ("local cloud", "running, healthy" if status.healthy else "NOT healthy"),
            ("local cloud pid", str(status.pid)),
            ("MiniStack version", str(status.version)),
            ("IAM policies enforced", {True: "yes", False: "no", None: "unknown"}[status.iam_enforced]),
            ("local cloud log", status.log_file),
            ("Lambda runtimes available here", ", ".join(localcloud.available_runtimes())),
        ]
    return pd.DataFrame(rows, columns=["setting", "value"])
