"""Portfolio artifacts: a diagram drawn from the template's references, and the PORTFOLIO.md beside it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.learn.portfolio import architecture_edges, draw_architecture, write_portfolio
from helpers.pipeline.template import pipeline_template


@dataclass(frozen=True)
class FakeLab:
    prefix: str = "alice"


def test_the_diagrams_arrows_follow_the_data() -> None:
    edges = set(architecture_edges(pipeline_template()))
    for flow in [
        ("OrdersApi", "CreateOrderFunction"),
        ("CreateOrderFunction", "OrdersTable"),
        ("OrdersTable", "StreamProcessorFunction"),
        ("StreamProcessorFunction", "OrderQueue"),
        ("OrderQueue", "OrderWorkerFunction"),
        ("OrderQueue", "OrderDlq"),
        ("OrdersTable", "HighValuePipe"),
        ("HighValuePipe", "HighValueEnricherFunction"),
        ("HighValuePipe", "HighValueQueue"),
        ("HighValueQueue", "HighValueFunction"),
        ("OrderDlq", "OrderDlqNotEmptyAlarm"),
        ("OrderDlqNotEmptyAlarm", "AlertsTopic"),
        ("AlertsTopic", "AlertInbox"),
    ]:
        assert flow in edges, flow
    assert ("StreamFailures", "StreamProcessorFunction") not in edges, "an on-failure queue does not invoke"
    assert not any("Role" in a or "LogGroup" in b for a, b in edges), "roles and log groups are not data flow"


def test_a_new_resource_in_the_template_appears_in_the_diagram(tmp_path) -> None:
    template = pipeline_template()
    template["Resources"]["AuditQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    template["Resources"]["StreamProcessorFunction"]["Properties"]["Environment"]["Variables"]["AUDIT"] = {
        "Ref": "AuditQueue"
    }
    assert ("StreamProcessorFunction", "AuditQueue") in architecture_edges(template)
    path = draw_architecture(template, tmp_path / "architecture.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_portfolio_has_the_template_the_diagram_and_how_to_deploy(tmp_path) -> None:
    checks = pd.DataFrame({"hand-built": {"standard order": "CONFIRMED"}, "stack": {"standard order": "CONFIRMED"}})
    portfolio = write_portfolio(FakeLab(), tmp_path, facts={"steps passed": "6/6"}, tables={"Side by side": checks})
    text = portfolio.read_text()
    assert (tmp_path / "architecture.png").is_file()
    assert "Default: alice" in (tmp_path / "template.yaml").read_text()
    assert "| steps passed | 6/6 |" in text
    assert "| standard order | CONFIRMED | CONFIRMED |" in text
    assert "sam deploy --guided" in text and "sam delete" in text and "![architecture](architecture.png)" in text


def _chaos_run() -> dict:
    """Notebook 07's figures from a run of 4 orders: one poison in the DLQ, kills, an alarm that fired."""
    from datetime import UTC, datetime

    from helpers.load.chaos import Kill
    from helpers.load.figures import chaos_figures
    from helpers.load.ledger import AlertEvidence, Ledger, LedgerRow
    from helpers.load.traffic import LoadResult, SentOrder

    start = 1_700_000_000.0
    sent = [
        SentOrder(i, f"k{i}", fault, 201, f"o{i}", start + i, float(i), latency, 1)
        for i, (fault, latency) in enumerate([(None, 60.0), (None, 80.0), ("poison", 70.0), (None, 900.0)])
    ]
    result = LoadResult(sent, seconds=2.0, concurrency=2, started_at=start)
    rows = [LedgerRow(s.key, s.order_id, s.fault, "CONFIRMED", "CONFIRMED", applied_count=1) for s in sent]
    rows[2] = LedgerRow("k2", "o2", "poison", "DLQ", "PENDING", reason="poison order", dead_letters=1)
    ledger = Ledger(rows, [], alert=AlertEvidence("alice-order-dlq-not-empty", True, True))
    kills = [
        ("stream_processor", Kill(start + 1.5, "alice-stream-processor", (11,))),
        ("order_worker", Kill(start + 27.6, "alice-order-worker", (12, 13, 14))),
    ]
    history = pd.DataFrame(
        [
            {
                "alarm": "alice-order-dlq-not-empty",
                "timestamp": datetime.fromtimestamp(start + 41, UTC),
                "old_state": "OK",
                "new_state": "ALARM",
                "reason": "",
            }
        ]
    )
    return chaos_figures(result, ledger, kills, started_at=start, alarm_history=history)


def test_the_portfolio_shows_notebook_07s_load_and_chaos_figures(tmp_path) -> None:
    from helpers.ops.figures import CHAOS_FIGURES, save_figures

    figures = _chaos_run()
    assert figures["api_latency_ms"]["max_ms"] == 900.0 and figures["accepted"] == 4
    save_figures(tmp_path, CHAOS_FIGURES, figures)
    text = write_portfolio(FakeLab(), tmp_path).read_text()
    section = text[text.index("## Load and chaos (notebook 07)") :]
    assert "| orders sent / accepted | 4 / 4 at 2.0 orders/s |" in section
    assert "| API latency p50 / p95 / p99 / max | 70 / 900 / 900 / 900 ms |" in section
    assert "| execution environments killed | 1 stream_processor at 1.5 s; 3 order_worker at 27.6 s |" in section
    assert "4/4 accounted for (100.0 %): 3 CONFIRMED, 0 REJECTED, 1 DLQ; 0 lost, 0 applied twice" in section
    assert "alice-order-dlq-not-empty: fired, alert arrived" in section
    assert "| 41.0 | alice-order-dlq-not-empty | OK | ALARM |" in section


def test_a_portfolio_without_notebook_07s_figures_has_no_chaos_section(tmp_path) -> None:
    assert "Load and chaos" not in write_portfolio(FakeLab(), tmp_path).read_text()
