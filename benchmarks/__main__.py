"""Run every benchmark module: ``python -m benchmarks [--quick] [NAME ...]``.

Every ``benchmarks/*.py`` module with a ``main()`` runs, in alphabetical order (or only the
NAMEs given). ``main`` is called with an argument list: empty, or in ``--quick`` mode the
module's ``QUICK_ARGS`` (smaller sizes for a fast sanity run; modules without ``QUICK_ARGS``
run with their defaults). A failing module is reported and the others still run; the exit
code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
import time
import traceback
from pathlib import Path


def discover() -> list[str]:
    """Names of the benchmark modules that define ``main``, sorted."""
    folder = Path(__file__).resolve().parent
    names = []
    for info in pkgutil.iter_modules([str(folder)]):
        if info.name.startswith("_"):
            continue
        names.append(info.name)
    return sorted(names)


def run_one(name: str, quick: bool) -> bool:
    module = importlib.import_module(f"benchmarks.{name}")
    main = getattr(module, "main", None)
    if not callable(main):
        return True
    args = list(getattr(module, "QUICK_ARGS", [])) if quick else []
    takes_args = bool(inspect.signature(main).parameters)
    print(f"== {name}{' (quick)' if quick else ''} ==", flush=True)
    started = time.perf_counter()
    try:
        if takes_args:
            main(args)
        else:
            main()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            print(f"!! {name} exited with {exc.code}", flush=True)
            return False
    except Exception:
        traceback.print_exc()
        print(f"!! {name} failed", flush=True)
        return False
    print(f"== {name} done in {time.perf_counter() - started:.1f} s ==\n", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a sanity run")
    parser.add_argument("names", nargs="*", help="benchmark modules to run (default: all)")
    args = parser.parse_args(argv)
    available = discover()
    unknown = [n for n in args.names if n not in available]
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; available: {', '.join(available)}")
    ok = [run_one(name, args.quick) for name in (args.names or available)]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
