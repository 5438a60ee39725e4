"""Job types: a name, a pydantic spec and a plain runner function (plus, for jobs split into
parts, a part function). Executors look runners up here by the name stored in the catalog."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from terrascan.errors import InvalidInputError
from terrascan.jobs.context import JobContext

SpecT = TypeVar("SpecT", bound=BaseModel)
Runner = Callable[[SpecT, JobContext], Mapping[str, Any]]
PartFn = Callable[[SpecT, int, JobContext], None]


@dataclass(frozen=True, slots=True)
class JobType(Generic[SpecT]):
    name: str
    spec_model: type[SpecT]
    run: Runner[SpecT]
    #: For a job split into parts: computes part ``index`` (the runner calls ``ctx.run_parts``).
    part: PartFn[SpecT] | None = None
    #: Test and diagnostic job types (they can crash workers): refused unless allowed.
    diagnostic: bool = False

    def parse(self, parameters: Mapping[str, Any] | BaseModel) -> SpecT:
        """Validate parameters into the spec; InvalidInputError names what is wrong."""
        if isinstance(parameters, self.spec_model):
            return parameters
        raw = parameters.model_dump() if isinstance(parameters, BaseModel) else dict(parameters)
        try:
            return self.spec_model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'spec'}: {err['msg']}"
                for err in exc.errors()
            )
            raise InvalidInputError(f"invalid {self.name} spec: {problems}") from None

    def run_here(self, spec: SpecT, ctx: JobContext) -> Mapping[str, Any]:
        """Call the runner in this thread, its parts one after another (tests, the CLI)."""
        part = self.part
        if part is not None and ctx.parts_runner is None:

            def run_parts(parent: JobContext, count: int) -> None:
                for index in range(count):
                    parent.check_cancelled()
                    part(spec, index, parent)
                    parent.progress(90.0 * (index + 1) / count, f"{index + 1}/{count} parts")

            ctx.parts_runner = run_parts
        return self.run(spec, ctx)


class JobRegistry:
    """``{job_type: JobType}``. ``default_registry()`` holds TerraScan's job types."""

    def __init__(self) -> None:
        self._types: dict[str, JobType[Any]] = {}

    def register(
        self,
        name: str,
        spec_model: type[SpecT],
        run: Runner[SpecT],
        *,
        part: PartFn[SpecT] | None = None,
        diagnostic: bool = False,
    ) -> JobType[SpecT]:
        if name in self._types:
            raise ValueError(f"job type {name!r} is already registered")
        job_type = JobType(name, spec_model, run, part, diagnostic)
        self._types[name] = job_type
        return job_type

    def get(self, name: str) -> JobType[Any]:
        try:
            return self._types[name]
        except KeyError:
            raise InvalidInputError(f"unknown job type {name!r}") from None

    def names(self, *, include_diagnostic: bool = False) -> list[str]:
        return sorted(n for n, t in self._types.items() if include_diagnostic or not t.diagnostic)

    def __contains__(self, name: object) -> bool:
        return name in self._types


def default_registry() -> JobRegistry:
    """TerraScan's job types (built on each call, so tests can add their own)."""
    from terrascan.jobs import analysis, builtin, ingest

    registry = JobRegistry()
    builtin.register(registry)
    ingest.register(registry)
    analysis.register(registry)
    return registry
