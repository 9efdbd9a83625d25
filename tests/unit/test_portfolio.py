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
