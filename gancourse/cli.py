"""The command line behind ``python -m gancourse`` and the Makefile targets.

    python -m gancourse course [--pattern '0[0-3]_*']   run every lecture headless, print a table
    python -m gancourse exercises                        regenerate exercises/ from solutions/
    python -m gancourse execute NOTEBOOK...              execute notebooks in place (to commit them)
    python -m gancourse train NAME | --all               train (or load) the course's models
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _course(args) -> int:
    from gancourse.notebooks import run_course

    return run_course(pattern=args.pattern, out_dir=args.out)


def _exercises(args) -> int:
    from gancourse.notebooks import generate_exercises

    for path in generate_exercises():
        print(f"wrote {path.relative_to(path.parent.parent)}")
    return 0


def _execute(args) -> int:
    from gancourse.notebooks import execute

    failed = 0
    for name in args.notebooks:
        seconds, error = execute(Path(name))
        failed += error is not None
        print(f"{name}: {seconds:.1f} s, {'ok' if error is None else 'FAILED: ' + error}", flush=True)
    return 1 if failed else 0


def _train(args) -> int:
    from gancourse import recipes

    names = recipes.names() if args.all else [args.name]
    if not args.all and args.name is None:
        print("name a model to train, or pass --all; the course's models are: " + ", ".join(recipes.names()),
              file=sys.stderr)
        return 2
    from gancourse import parallel

    for name in names:
        trained = recipes.load_or_train(name, retrain=args.retrain)
        if parallel.is_main():
            print(f"{name}: {trained.history.steps} generator steps, checkpoint {trained.path.name} "
                  f"in the cache folder", flush=True)
    if parallel.is_distributed():
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gancourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("course", help="execute every lecture headless in order and print a table")
    p.add_argument("--pattern", default="[0-9][0-9]_*.ipynb", help="which lectures (a glob)")
    p.add_argument("--out", default=None, help="folder for the executed copies (default: a temporary one)")
    p.set_defaults(func=_course)

    p = sub.add_parser("exercises", help="regenerate exercises/ from solutions/")
    p.set_defaults(func=_exercises)

    p = sub.add_parser("execute", help="execute notebooks in place and save them cleaned")
    p.add_argument("notebooks", nargs="+")
    p.set_defaults(func=_execute)

    p = sub.add_parser("train", help="train (or load from the cache) one of the course's models")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--all", action="store_true", help="every model of the course, in lecture order")
    p.add_argument("--retrain", action="store_true", help="train even when a checkpoint exists")
    p.set_defaults(func=_train)

    args = parser.parse_args(argv)
    return args.func(args)
