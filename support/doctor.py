"""Print the prerequisite table of every tier without running tests: ``python -m support.doctor``.

Exit code 0 when every required prerequisite is present, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from support.prereqs import (
    DOCKER_ENGINE,
    TIER_COMPONENTS,
    CheckContext,
    Finding,
    Prerequisite,
    check,
    prerequisites_for,
)


def _extra(tier: str) -> list[Prerequisite]:
    """What a tier needs besides its stack components: the full tier's LLM (shown, never missing) and the
    local real model of ``--llm=local``, the resilience tier's permission to mount (its disk faults skip
    without it), and for both the Docker engine of ``--runner=docker``."""
    if tier == "full":
        from support.llm import auto_llm_prerequisite, local_prerequisite
        from support.llm_local import unavailable_reason

        return [auto_llm_prerequisite(), local_prerequisite(unavailable_reason()), DOCKER_ENGINE]
    if tier == "resilience":
        from support.faults.disk import MOUNT_PERMISSION

        return [MOUNT_PERMISSION, DOCKER_ENGINE]
    return []


def findings_by_tier(context: CheckContext) -> dict[str, list[Finding]]:
    """Each tier's findings; a prerequisite shared by tiers is checked once."""
    cache: dict[str, Finding] = {}
    table: dict[str, list[Finding]] = {}
    for tier, components in TIER_COMPONENTS.items():
        rows = []
        for prereq in [*prerequisites_for(components), *_extra(tier)]:
            if prereq.name not in cache:
                cache[prereq.name] = check(prereq, context)
            rows.append(cache[prereq.name])
        table[tier] = rows
    return table


def render(table: dict[str, list[Finding]]) -> str:
    """The table, then the full message of every missing prerequisite."""
    rows = [("TIER", "PREREQUISITE", "STATE", "DETAIL")]
    missing: dict[str, Finding] = {}
    for tier, findings in table.items():
        for finding in findings:
            prereq = finding.prerequisite
            state = "ok" if finding.present else ("missing (skips)" if prereq.optional else "MISSING (fails)")
            rows.append((tier, prereq.name, state, finding.detail))
            if not finding.present:
                missing[prereq.name] = finding
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3] for row in rows]
    for finding in missing.values():
        lines += ["", finding.message()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Check every tier's prerequisites and print the table."""
    parser = argparse.ArgumentParser(prog="python -m support.doctor", description=__doc__)
    parser.add_argument(
        "--stigmer-bin", help="the stigmer binary to check (default: $STIGMER_BIN, beside python, PATH)"
    )
    args = parser.parse_args(argv)
    table = findings_by_tier(CheckContext(stigmer_bin=args.stigmer_bin))
    print(render(table))
    required_missing = any(
        not finding.present and not finding.prerequisite.optional for findings in table.values() for finding in findings
    )
    return 1 if required_missing else 0


if __name__ == "__main__":
    sys.exit(main())
