"""One command from nothing to the bundled `shapes` preset: `npm run train:shapes`.

Stages run in order, each writing into the work folder (models/.work/shapes, git-ignored); a stage
whose output already exists is reused unless --fresh is given, so an interrupted build resumes.
`--quick` trains every stage for a few steps on tiny splits (the smoke test pytest runs).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Tuple

import torch

REPO = Path(__file__).resolve().parents[2]
DEFAULT_WORK = REPO / "models" / ".work" / "shapes"
DEFAULT_PRESET = REPO / "models" / "shapes"

FULL_STEPS = {"clip": 2500, "text": 2000, "vae": 1500, "checker": 800, "unet": 11000, "adapter": 3000, "tune": 2000}
QUICK_STEPS = {"clip": 4, "text": 4, "vae": 4, "checker": 4, "unet": 4, "adapter": 4, "tune": 4}


def stages(work: Path, preset: Path, steps: Dict[str, int], quick: bool, log) -> List[Tuple[str, str, Callable[[], Dict]]]:
    from . import data, embed, export, evaluate, refit_text, train_adapter, train_checker, train_clip, train_unet, train_vae, tune_unet

    pairs = work / "pairs_train.npz"
    return [
        ("data", "images.npz", lambda: data.build(work, quick)),
        ("clip", "clip.pt", lambda: train_clip.train(work, steps["clip"], log=log)),
        ("text", refit_text.OUT, lambda: refit_text.train(work, steps["text"], log=log)),
        ("vae", "vae.pt", lambda: train_vae.train(work, steps["vae"], log=log)),
        ("checker", "checker.pt", lambda: train_checker.train(work, steps["checker"], log=log)),
        ("embed", "pairs_train.npz", lambda: embed.build(work)),
        ("unet", "unet.pt", lambda: train_unet.train(work, steps["unet"], log=log)),
        ("export", "export.done", lambda: export.export_preset(work, preset, quick=quick)),
        (
            "adapter",
            "adapter.done",
            lambda: train_adapter.run(
                train_adapter.Options(pairs=pairs, val_pairs=work / "pairs_val.npz", preset=preset, out=preset / "torch", steps=steps["adapter"], comparison_dir=preset / "torch" / "comparison"),
                log=log,
            ),
        ),
        # After the adapter: the decoder is tuned on the caption means that adapter produces.
        ("tune", "tune.done", lambda: tune_unet.run(work, preset, steps["tune"], log=log)),
        ("evaluate", "evaluate.done", lambda: evaluate.run(preset, log=log)),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for intermediate data and checkpoints")
    parser.add_argument("--preset", type=Path, default=DEFAULT_PRESET, help="where the preset is written")
    parser.add_argument("--quick", action="store_true", help="a few steps on tiny splits: a smoke test, not a model")
    parser.add_argument("--fresh", action="store_true", help="discard the work folder and start from nothing")
    parser.add_argument("--from", dest="from_stage", help="rerun this stage and every later one")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    if args.fresh and args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    log_file = (args.work / "build.log").open("a")

    def log(message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    record_path = args.work / "stages.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    steps = QUICK_STEPS if args.quick else FULL_STEPS
    plan = stages(args.work, args.preset, steps, args.quick, log)
    names = [name for name, _, _ in plan]
    if args.from_stage and args.from_stage not in names:
        parser.error(f"--from must be one of {', '.join(names)}; got {args.from_stage!r}")
    rerun = False
    for name, marker, run in plan:
        rerun = rerun or name == args.from_stage
        if (args.work / marker).exists() and not rerun:
            log(f"stage {name}: reusing {marker}")
            continue
        log(f"stage {name}: start")
        started = time.time()
        result = run()
        seconds = round(time.time() - started, 1)
        if marker.endswith(".done"):
            (args.work / marker).write_text("ok\n")
        record[name] = {"seconds": seconds, "result": result}
        record = {n: record[n] for n in names if n in record}  # in build order, whichever stages a resumed build reran
        record_path.write_text(json.dumps(record, indent=2))
        log(f"stage {name}: done in {seconds}s {json.dumps(result)}")
    # The report's build table needs every stage's time, the evaluation's included: written once all have run.
    shutil.copyfile(record_path, args.preset / "build.json")
    from . import evaluate

    evaluate.write_report(args.preset)
    log(f"all stages done; total build time {sum(r['seconds'] for r in record.values()):.0f}s; build.json and REPORT.md written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
