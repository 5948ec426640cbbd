"""The command line behind ``python -m gancourse`` and the Makefile targets.

    python -m gancourse course [--pattern '0[0-3]_*']   run every lecture headless, print a table
    python -m gancourse exercises                        regenerate exercises/ from solutions/
    python -m gancourse grade FOLDER [--timeout S] [--out grades.csv]   grade submitted exercise notebooks
    python -m gancourse execute NOTEBOOK...              execute notebooks in place (to commit them)
    python -m gancourse train NAME | --all               train (or load) the course's models
    python -m gancourse warm [--pattern GLOB]            fill the cache with everything the lectures load
    python -m gancourse normalise [NOTEBOOK...]          store notebooks as JupyterLab saves them
    python -m gancourse tags [NOTEBOOK...]               nbval's comment markers -> cell tags
    python -m gancourse workcopy                         the learner's copy of the notebooks (make lab)
    python -m gancourse eval NAME                        judge a trained model: classifier FD, classes covered
    python -m gancourse references NAME | --all          rebuild the shipped reference models on MNIST
"""

from __future__ import annotations

import argparse
import math
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


def _known(name: str | None, verb: str) -> bool:
    """Whether ``name`` is a recipe; if not, say so in one line on stderr."""
    from gancourse import recipes

    if name in recipes.RECIPES:
        return True
    what = "name a model" if name is None else f"unknown model {name!r}"
    print(f"{what} to {verb}; the course's models are: {', '.join(recipes.names())} (see --help).", file=sys.stderr)
    return False


def _models_help() -> str:
    from gancourse import recipes

    return "models:\n" + "\n".join(f"  {r.name:<12} {r.summary}" for r in (recipes.get(n) for n in recipes.names()))


def _train(args) -> int:
    from gancourse import recipes

    if args.all and args.name is not None:
        print(f"pass a model's name or --all, not both (got {args.name!r} and --all).", file=sys.stderr)
        return 2
    names = recipes.names() if args.all else [args.name]
    if not args.all and not _known(args.name, "train"):
        return 2
    from gancourse import parallel

    parallel.world_size()  # torchrun's variables are checked before any work (half of them set is an error)
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


def _warm(args) -> int:
    """Everything a class needs, trained once: each recipe and the classifier with a progress bar, then
    every lecture run headless once, which records every other cached run it loads (toy and ring runs,
    lecture 11's demos, lecture 12's families); the table that follows says what each lecture trained."""
    from gancourse import recipes
    from gancourse.judge import classifier
    from gancourse.notebooks import run_course

    for name in recipes.names():
        trained = recipes.load_or_train(name)
        print(f"warm: {name} ready ({trained.history.steps} generator steps)", flush=True)
    datasets = dict.fromkeys(["digits"] + [recipes.get(n).settings()["dataset"] for n in recipes.names()])
    for dataset in datasets:
        classifier(dataset)
        print(f"warm: the {dataset} classifier ready", flush=True)
    print("warm: now every lecture once, headless, so each run it loads is in the cache", flush=True)
    return run_course(pattern=args.pattern)


def _normalise(args) -> int:
    from gancourse.notebooks import ROOT, normalise_files

    paths = args.notebooks or sorted(p for folder in ("lectures", "solutions", "exercises")
                                     for p in (ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    changed = normalise_files(paths)
    print(f"normalised {len(changed)} of {len(paths)} notebook(s)" + "".join(f"\n  {p}" for p in changed))
    return 0


def _tags(args) -> int:
    from gancourse.notebooks import ROOT, markers_to_tags_files

    paths = args.notebooks or sorted(p for folder in ("lectures", "solutions", "exercises")
                                     for p in (ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    done = markers_to_tags_files(paths)
    print(f"nbval markers moved into tags: {sum(done.values())} cell(s) in {len(done)} notebook(s)")
    return 0


def _workcopy(args) -> int:
    from gancourse.notebooks import working_copy

    working_copy()
    return 0


def _eval(args) -> int:
    """The judge's numbers for a trained recipe model from the cache (nothing is trained here but the judge)."""
    if not _known(args.name, "evaluate"):
        return 2
    from gancourse import recipes
    from gancourse.config import mode
    from gancourse.data import image_dataset
    from gancourse.judge import classifier, sample_quality
    from gancourse.metrics import generate

    if not recipes.is_trained(args.name):
        print(f"no finished {args.name!r} of the current recipe ({mode()} mode) in the cache folder; "
              f"train it first: python -m gancourse train {args.name}", file=sys.stderr)
        return 1
    trained = recipes.load_or_train(args.name, progress=False)
    settings = trained.settings
    judge = classifier(settings["dataset"])
    real = image_dataset(settings["dataset"], train=False, size=settings["img_size"]).images[:args.n]
    train_images = image_dataset(settings["dataset"], train=True, size=settings["img_size"]).images[:len(real)]
    fake = generate(trained.G_ema if trained.G_ema is not None else trained.G, len(real), seed=0)
    q, base = sample_quality(judge, fake, real), sample_quality(judge, train_images, real)
    print(f"{args.name} ({mode()}, {trained.history.steps} generator steps, {len(real)} samples against "
          f"{len(real)} held-out {settings['dataset']} images):")
    print(f"  classifier FD      {q['fd']:10.2f}   (training images against them: {base['fd']:.2f})")
    print(f"  classes covered    {q['classes']:10d}   of {judge.num_classes}")
    print(f"  class entropy      {q['class_entropy']:10.3f}   (uniform: {math.log(judge.num_classes):.3f})")
    print(f"  mean confidence    {q['confidence']:10.3f}   (real: {base['confidence']:.3f})")
    return 0


def _grade(args) -> int:
    from gancourse.grading import grade_folder

    if not Path(args.folder).is_dir():
        print(f"no folder {args.folder!r}: pass the folder that holds the submitted notebooks", file=sys.stderr)
        return 2
    rows = grade_folder(Path(args.folder), timeout=args.timeout, out=Path(args.out))
    print(f"{len(rows)} student(s) graded; the table is in {args.out}")
    return 0


def _references(args) -> int:
    from gancourse.references import run

    return run(args.name, args.all, args.out, args.steps)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gancourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("course", help="execute every lecture headless in order and print a table")
    p.add_argument("--pattern", default="[0-9][0-9]_*.ipynb", help="which lectures (a glob)")
    p.add_argument("--out", default=None, help="folder for the executed copies (default: a temporary one)")
    p.set_defaults(func=_course)

    p = sub.add_parser("grade", help="grade a folder of submitted exercise notebooks offline into a CSV table")
    p.add_argument("folder", help="the submissions: FOLDER/student.ipynb or FOLDER/student/NN_name.ipynb")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds each notebook may run (default 120)")
    p.add_argument("--out", default="grades.csv", help="the CSV to write (default grades.csv)")
    p.set_defaults(func=_grade)

    p = sub.add_parser("exercises", help="regenerate exercises/ from solutions/")
    p.set_defaults(func=_exercises)

    p = sub.add_parser("execute", help="execute notebooks in place and save them cleaned")
    p.add_argument("notebooks", nargs="+")
    p.set_defaults(func=_execute)

    p = sub.add_parser("warm", help="fill the cache with every model and run the lectures load (before class)")
    p.add_argument("--pattern", default="[0-9][0-9]_*.ipynb", help="which lectures to run (a glob)")
    p.set_defaults(func=_warm)

    p = sub.add_parser("normalise", help="store notebooks exactly as JupyterLab saves them (default: all committed)")
    p.add_argument("notebooks", nargs="*")
    p.set_defaults(func=_normalise)

    p = sub.add_parser("tags", help="move nbval's '# NBVAL_...' comment lines into cell tags (default: all committed)")
    p.add_argument("notebooks", nargs="*")
    p.set_defaults(func=_tags)

    p = sub.add_parser("workcopy", help="create the learner's working copy of the notebooks once (make lab)")
    p.set_defaults(func=_workcopy)

    models = _models_help() if {"train", "eval"} & set(sys.argv[1:] if argv is None else argv) else None
    p = sub.add_parser("train", help="train (or load from the cache) one of the course's models", epilog=models,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", default=None, help="a model (listed below)")
    p.add_argument("--all", action="store_true", help="every model of the course, in lecture order")
    p.add_argument("--retrain", action="store_true", help="train even when a checkpoint exists")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="judge a trained model from the cache: classifier FD, classes covered",
                       epilog=models, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", default=None, help="a model (listed below)")
    p.add_argument("--n", type=int, default=1000, help="samples to judge (and held-out images to compare with)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("references", help="rebuild the shipped reference models (MNIST from GANCOURSE_DATA)")
    p.add_argument("name", nargs="?", default=None)
    p.add_argument("--all", action="store_true", help="every reference, the judge first")
    p.add_argument("--out", default=None, help="folder to write (default: the package's reference_models)")
    p.add_argument("--steps", type=int, default=None, help="override the step count (the judge's epochs), to test")
    p.set_defaults(func=_references)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, PermissionError, FloatingPointError) as err:
        # what the package raises for bad input, environment or runs says what to do: one line, no traceback
        print(f"python -m gancourse {args.command}: {err}", file=sys.stderr)
        return 1
