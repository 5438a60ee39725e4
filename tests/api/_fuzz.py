"""Run schemathesis over OpenAPI operations with hypothesis, one operation at a time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode


def fuzz_each(
    operations: list[Any], mode: str, max_examples: int, check: Callable[[Any], None]
) -> list[str]:
    """Generate ``max_examples`` cases (``mode`` positive or negative) for every operation and
    ``check`` each; every operation runs, and the failures come back together, one line each."""
    failures: list[str] = []
    failing: dict[str, str] = {}  # per operation, the last failing request, shown with its error
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode))

        @given(case=strategy)
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any) -> None:
            try:
                check(case)
            except Exception:
                failing[case.operation.label] = f"{case.formatted_path} {case.query or ''}"
                raise

        try:
            fuzz()
        except Unsatisfiable:  # nothing in this operation can be made invalid
            if mode != "negative":
                failures.append(f"{operation.label}: no valid case could be generated")
        except Exception as exc:
            request = f" ({failing[operation.label]})" if operation.label in failing else ""
            failures.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:2000]}{request}")
    return failures
