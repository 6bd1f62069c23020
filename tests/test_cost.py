"""scripts/cost.py: each stack's idle monthly cost, the README's table and the PR comment's diff.

The stacks are priced from the runs the other tests already made (run_stack caches them), so
this file adds little time; the comparison is checked on reports written out here. The figures
are those of the tests' own stack files (tests/stacks/); only the README's table is of the
shipped ones, which `make docs` renders.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from scripts import cost
from tests.conftest import MODE_IDS, MODES
from tests.harness import TEST_STACKS, Resource, Run, run_stack, stack_config, with_overrides

ROOT = Path(__file__).resolve().parents[1]
# The README's figures before the script existed, which it must reproduce.
TOTALS = {"dev": Decimal("27.44"), "prod": Decimal("75.09"), "staging": Decimal("33.12")}
X = cost.TIMES  # the README's multiplication sign


def stack_cost(stack: str, overrides: dict[str, str] | None = None) -> cost.StackCost:
    """A test stack file priced (cost.stack_cost prices the shipped ones by default)."""
    return cost.stack_cost(stack, overrides, stacks=TEST_STACKS)


def monthly(stack_cost: cost.StackCost) -> dict[str, Decimal]:
    """The line items that cost something, by key."""
    return {item.key: item.monthly for item in stack_cost.items if item.monthly}


# --- The README -------------------------------------------------------------------------


def test_readme_cost_table_is_the_one_the_script_renders() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert cost.START in readme
    assert cost.END in readme
    table = readme.split(cost.START, 1)[1].split(cost.END, 1)[0]
    rendered = cost.render_markdown([cost.stack_cost(stack) for stack in cost.README_STACKS])

    assert table.strip() == rendered.strip(), (
        "the README's cost table differs from what the shipped stack files cost: run "
        "`make docs` to update README.md (`make cost` shows the line items)"
    )


# --- What each stack costs --------------------------------------------------------------


@pytest.mark.parametrize("stack", TOTALS)
def test_idle_total_of_each_stack(stack: str) -> None:
    assert stack_cost(stack).total == TOTALS[stack]


def test_an_alarm_email_subscription_costs_nothing_at_idle() -> None:
    with_email = stack_cost("prod", {"alarmEmail": "oncall@example.com"})

    assert with_email.total == TOTALS["prod"]
    assert not with_email.unpriced


def test_dev_and_prod_line_items_are_the_readme_figures() -> None:
    assert monthly(stack_cost("dev")) == {
        "alb": Decimal("16.43"),  # 0.0225 * 730 = 16.425: rounded half up
        "alb-ipv4": Decimal("7.30"),  # two zones
        "instances": Decimal("3.07"),  # 1 t4g.nano
        "root-volumes": Decimal("0.64"),  # 8 GB
    }
    prod = stack_cost("prod")
    assert monthly(prod) == {
        "alb": Decimal("16.43"),
        "alb-ipv4": Decimal("10.95"),  # three zones
        "instances": Decimal("36.79"),  # 3 t4g.small
        "root-volumes": Decimal("1.92"),
        "waf": Decimal("9.00"),  # web ACL $5 + 4 rules at $1
    }
    assert prod.item("instances").detail == f"3 {X} t4g.small"
    assert prod.item("log-bucket").approx  # flow logs of health checks: ≈ $0, not $0


def test_prices_follow_what_the_stack_registers() -> None:
    """An internal ALB (VPC origin) holds no public address; a NAT gateway per zone costs the
    README's $65.70, and its Elastic IPs are public addresses too."""
    priced = stack_cost("dev", {"originAccess": "vpcOrigin", "natGateways": "perAz"})

    assert priced.item("alb-ipv4").monthly == 0
    assert priced.item("nat").monthly == Decimal("65.70")
    assert priced.item("nat-ipv4").monthly == Decimal("7.30")
    assert priced.item("nat").detail == "perAz"


def test_interface_endpoints_cost_per_endpoint_per_zone() -> None:
    """`vpcEndpoints: [ecr.api, ecr.dkr]` in two zones: the README's $29.20."""
    dev = run_stack("dev")
    endpoints = [
        Resource(
            type="aws:ec2/vpcEndpoint:VpcEndpoint",
            name=f"network-{service}",
            urn=f"urn:{service}",
            parent_urn="",
            provider="",
            inputs={
                "vpcEndpointType": "Interface",
                "serviceName": f"com.amazonaws.us-east-1.{service}",
                "subnetIds": ["network-private-a-id", "network-private-b-id"],
            },
            outputs={"id": f"vpce-{service}"},
        )
        for service in ("ecr.api", "ecr.dkr")
    ]
    run = Run(resources=[*dev.resources, *endpoints])

    priced = cost.price_run(run, stack_config("dev"), "dev", cost.load_prices())

    assert priced.item("interface-endpoints").monthly == Decimal("29.20")


@pytest.mark.parametrize(("stack", "overrides"), MODES, ids=MODE_IDS)
def test_every_mode_is_priced(stack: str, overrides: dict[str, str]) -> None:
    """Every resource type each mode registers is priced or known free at idle: a new type
    without a price fails here (and stops the script), instead of showing as $0."""
    registered = {r.type for r in run_stack(stack, **overrides).resources if r.custom}
    unpriced = registered - cost.PRICED_TYPES - cost.FREE_AT_IDLE.keys()

    assert not unpriced, f"price these in scripts/cost.py or list them in FREE_AT_IDLE: {unpriced}"
    assert stack_cost(stack, overrides).total > 0


def test_an_unpriced_resource_type_stops_the_script() -> None:
    database = Resource(
        type="aws:rds/instance:Instance",
        name="db",
        urn="urn:db",
        parent_urn="",
        provider="",
        inputs={},
        outputs={"id": "db"},
    )
    run = Run(resources=[*run_stack("dev").resources, database])

    with pytest.raises(cost.PricingError, match=r"aws:rds/instance:Instance \(db\).*FREE_AT_IDLE"):
        cost.price_run(run, stack_config("dev"), "dev", cost.load_prices())


UNPRICED_NANO = (
    "no price for instance type 't4g.nano' in us-east-1 in scripts/prices.json: "
    "add it to regions.us-east-1.instance_hour"
)


def test_an_unknown_instance_type_is_unpriced_and_names_the_entry_to_add() -> None:
    """Any instance type is a valid stack file's: without a price it is shown as unknown,
    never as $0, and the rest of the stack is still priced."""
    prices: dict[str, Any] = copy.deepcopy(cost.load_prices())
    del prices["regions"]["us-east-1"]["instance_hour"]["t4g.nano"]

    priced = cost.price_run(run_stack("dev"), stack_config("dev"), "dev", prices)

    assert priced.item("instances").unpriced
    assert priced.unpriced
    assert priced.missing == (UNPRICED_NANO,)
    assert priced.total == TOTALS["dev"] - Decimal("3.07")  # all but the instance
    assert priced.item("alb").monthly == Decimal("16.43")


def test_an_unpriced_stack_renders_its_unknowns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prices: dict[str, Any] = copy.deepcopy(cost.load_prices())
    del prices["regions"]["us-east-1"]["instance_hour"]["t4g.nano"]
    monkeypatch.setattr(cost, "load_prices", lambda: prices)
    priced = cost.price_run(run_stack("dev"), stack_config("dev"), "dev", prices)

    text = cost.render_text(priced, "2026-11-25")
    markdown = cost.render_markdown([priced])
    report = cost.to_json([priced], prices)

    assert f"1 {X} t4g.nano" in text
    assert "unpriced per instance-hour" in text
    assert text.splitlines()[-1] == f"? unpriced: {UNPRICED_NANO}"
    assert f"| Instances: 1 {X} t4g.nano | ? |" in markdown
    assert f"| **Total** | **≈ ${TOTALS['dev'] - Decimal('3.07')} + ?** |" in markdown
    assert markdown.endswith(f"\n\n? unpriced: {UNPRICED_NANO}\n")
    assert report["stacks"]["dev"]["unpriced"] == [UNPRICED_NANO]
    assert "+ ? | ? |" in cost.render_comparison(report, report)
    assert cost.main(["--stack", "dev"]) == 0  # shown, not a failure
    assert capsys.readouterr().err == ""


def test_an_unknown_region_is_unpriced_and_names_the_entry_to_add() -> None:
    config = with_overrides(stack_config("dev"), {"aws:region": "ap-south-1"})

    priced = cost.price_run(run_stack("dev"), config, "dev", cost.load_prices())

    assert priced.unpriced
    assert priced.item("alb").unpriced
    [missing] = priced.missing
    assert "'ap-south-1' in scripts/prices.json" in missing
    assert "| **Total** | **?** |" in cost.render_markdown([priced])


def test_price_table_is_dated_sourced_and_complete_for_each_stack_region() -> None:
    prices = cost.load_prices()
    assert prices["as_of"]
    assert "pricing.us-east-1.amazonaws.com" in prices["source"]["of_record"]
    regions = {stack_config(stack)["aws:region"] for stack in cost.STACKS}
    assert regions <= set(prices["regions"])
    keys = {region: set(prices["regions"][region]) for region in prices["regions"]}
    instance_types = {
        region: set(prices["regions"][region]["instance_hour"]) for region in prices["regions"]
    }
    # Every region prices the same things, so a stack can move without a gap.
    assert all(value == keys["us-east-1"] for value in keys.values())
    assert all(value == instance_types["us-east-1"] for value in instance_types.values())


# --- The pull request comment ----------------------------------------------------------


def report(**stacks: tuple[str, dict[str, tuple[str, str]]]) -> dict[str, Any]:
    """A --json report: per stack its total and {key: (detail, monthly)}."""
    return {
        "prices_as_of": "2026-11-25",
        "stacks": {
            name: {
                "total": total,
                "items": [
                    {
                        "key": key,
                        "label": cost.ROWS[key].label([detail]),
                        "detail": detail,
                        "monthly": amount,
                    }
                    for key, (detail, amount) in items.items()
                ],
            }
            for name, (total, items) in stacks.items()
        },
    }


BASE = report(
    dev=("27.44", {"alb-ipv4": ("$3.65", "7.30"), "instances": (f"1 {X} t4g.nano", "3.07")}),
    prod=("75.09", {"instances": (f"3 {X} t4g.small", "36.79")}),
    old=("10.00", {}),
)
HEAD = report(
    dev=("34.01", {"alb-ipv4": ("$3.65", "7.30"), "instances": (f"1 {X} t4g.micro", "6.13")}),
    prod=("75.09", {"instances": (f"3 {X} t4g.small", "36.79")}),
    staging=("33.12", {}),
)


def test_comparison_shows_each_stacks_change_and_the_line_items_behind_it() -> None:
    assert cost.render_comparison(BASE, HEAD) == (
        f"{cost.COMMENT_MARKER}\n"
        "### Idle cost per month\n"
        "\n"
        "On-demand, with no traffic, as `make cost` computes it under the test mocks with the "
        "prices of `scripts/prices.json` (as of 2026-11-25).\n"
        "\n"
        "| Stack | Base | This PR | Change |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| dev | ≈ $27.44 | ≈ $34.01 | +$6.57 |\n"
        "| prod | ≈ $75.09 | ≈ $75.09 | no change |\n"
        "| staging | — | ≈ $33.12 | new |\n"
        "| old | ≈ $10.00 | — | removed |\n"
        "\n"
        "| Stack | Line item | Base | This PR | Change |\n"
        "| --- | --- | ---: | ---: | ---: |\n"
        f"| dev | Instances: 1 {X} t4g.micro (was 1 {X} t4g.nano) | $3.07 | $6.13 | +$3.06 |\n"
        "\n"
        "Traffic is extra (CloudFront, ALB LCUs, NAT and endpoint data, WAF requests, logs): "
        "see the README's cost section for its unit prices.\n"
    )


def test_comparison_without_a_base_shows_the_pull_request_alone(tmp_path: Path) -> None:
    (tmp_path / "head.json").write_text(json.dumps(HEAD), encoding="utf-8")

    assert cost.main(["--compare", str(tmp_path / "none.json"), str(tmp_path / "head.json")]) == 0
    comment = cost.render_comparison(None, HEAD)

    assert "The base branch could not be priced" in comment
    assert "| dev | — | ≈ $34.01 | — |" in comment
    assert "Line item" not in comment


def test_a_report_compared_with_itself_changes_nothing() -> None:
    costs = [stack_cost(stack) for stack in cost.README_STACKS]
    same = cost.to_json(costs, cost.load_prices())

    comment = cost.render_comparison(same, copy.deepcopy(same))

    assert "| dev | ≈ $27.44 | ≈ $27.44 | no change |" in comment
    assert "No line item changes." in comment
