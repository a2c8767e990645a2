"""Atari 100k (Kaiser et al. 2020) with DrQ(ε) (Agarwal et al. 2021): games × seeds, then a
table beside the published random, human and DrQ(ε) scores.

    python experiments/atari100k.py --games Assault --seeds 3
    python experiments/atari100k.py --games all --seeds 5 --dir runs/atari100k --jobs 2

One run per game and seed, `<dir>/<env id>-seed<k>`: the drq_eps preset (100,000 agent steps =
400,000 frames, one update per step, 100 evaluation games at ε 0.001 at the end) with seed k.
Runs are trained game by game; a finished run is reused, an unfinished one resumed from its
latest checkpoint, a directory holding other settings refused. `--jobs J` trains J runs at a
time, each in its own process pinned to its own CPU core: on the 2-core CPU two one-core
processes train 1.5× more agent steps per second in total than one process on both cores
(BENCHMARKS.md, "Atari 100k"). Any flag this script does not know goes to every run, e.g.
`--total-frames 8000 --eval-episodes 2` for a smoke test.

Writes `<dir>/atari100k.md` (the table), `<dir>/atari100k.csv` and `<dir>/atari100k.png`:
per game the mean final score over seeds with a 95% bootstrap CI, beside random, human and
DrQ(ε)'s published mean; and the IQM, median and mean human-normalised score over the games
run, with stratified-bootstrap 95% CIs (Agarwal et al. 2021). Human-normalised scores use the
57-game random/human table of the Atari 100k literature (jaxdqn.atari_data.HUMAN_RANDOM_57;
Assault: random 222.4, human 742.0).
"""

from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import time
from pathlib import Path

import _cli

from jaxdqn import atari_data

PRESET = "drq_eps"
OWN_FLAGS = ("--env-id", "--seed", "--num-seeds", "--run-dir", "--run-name", "--resume", "--preset")


def parse_games(text: str) -> list[str]:
    """`Assault,pong` or `all` → envpool ids of Atari 100k games; exit 2 on an unknown name."""
    by_name = {g.removesuffix("-v5").lower(): g for g in atari_data.ATARI_100K}
    if text.strip().lower() == "all":
        return list(atari_data.ATARI_100K)
    games = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        key = name.removesuffix("-v5").lower()
        if key not in by_name:
            close = difflib.get_close_matches(key, by_name, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(by_name[c].removesuffix('-v5') for c in close)}?"
            names = ", ".join(g.removesuffix("-v5") for g in atari_data.ATARI_100K)
            _cli._refuse(f"--games: {name!r} is not an Atari 100k game.{hint if close else ''} "
                         f"The 26 games: {names} (or all).")  # fmt: skip
        if by_name[key] not in games:
            games.append(by_name[key])
    if not games:
        _cli._refuse("--games: give at least one game, e.g. --games Assault, or all")
    return games


def plan(games: list[str], seeds: int, run_dir: Path, extra: list[str]) -> list[_cli.PlannedRun]:
    """Every (game, seed) run, parsed and checked (flags, memory, directories) before training."""
    from jaxdqn.presets import PRESETS

    plans = []
    for env in games:
        for seed in range(seeds):
            name = f"{env}-seed{seed}"
            flags = ["--no-progress", *extra, "--env-id", env, "--seed", str(seed),
                     "--num-seeds", "1", "--run-dir", str(run_dir), "--run-name", name]  # fmt: skip
            plans.append(_cli.plan_run(run_dir / name, flags, PRESET, PRESETS, __doc__, "--dir",
                                       label=f"{env} seed {seed}"))  # fmt: skip
    return plans


def train_in_processes(args: list[str], plans: list[_cli.PlannedRun], jobs: int) -> None:
    """Trains the unfinished runs `jobs` at a time, each in a child process (this script with
    `--only I`) pinned to one CPU core; a child that fails stops the script (exit 1)."""
    cores = sorted(os.sched_getaffinity(0))
    todo = [i for i, p in enumerate(plans) if p.state != "finished"]
    for p in plans:
        if p.state == "finished":
            print(f"{p.run_dir}: already finished, not retrained")
    running: dict[int, tuple[subprocess.Popen, int]] = {}  # core -> (process, run index)
    failed = []
    while todo or running:
        for core in cores[:jobs]:
            if core not in running and todo:
                i = todo.pop(0)
                plans[i].run_dir.parent.mkdir(parents=True, exist_ok=True)
                log = open(plans[i].run_dir.parent / f"{plans[i].run_dir.name}.log", "a")  # noqa: SIM115
                # The child pins itself (--core) before importing JAX: a preexec_fn would run
                # Python between fork and exec in a process whose JAX threads are running.
                child = subprocess.Popen(
                    [sys.executable, __file__, *args, "--only", str(i), "--core", str(core)],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
                print(f"{plans[i].run_dir}: training on core {core} (log: {log.name})", flush=True)
                running[core] = (child, i)
        time.sleep(5)
        for core, (child, i) in list(running.items()):
            if child.poll() is not None:
                del running[core]
                status = "done" if child.returncode == 0 else f"failed ({child.returncode})"
                print(f"{plans[i].run_dir}: {status}", flush=True)
                if child.returncode:
                    failed.append(plans[i].run_dir)
    if failed:
        print(f"error: {len(failed)} run(s) failed; see their .log files", file=sys.stderr)
        raise SystemExit(1)


def main(args: list[str] | None = None) -> str | None:
    args = list(sys.argv[1:] if args is None else args)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--games", required=True,
                        help="Atari 100k games, comma-separated (Assault,Pong) or all")  # fmt: skip
    parser.add_argument("--seeds", type=int, default=3, help="seeds per game (default: 3)")
    parser.add_argument("--dir", default="runs/atari100k",
                        help="folder of the runs and table (default: runs/atari100k)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at a time, one per CPU core (default: 1, in order in "
                        "this process)")  # fmt: skip
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing: write the table of the runs that exist")  # fmt: skip
    parser.add_argument("--only", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)
    ns, extra = parser.parse_known_args(args)
    if ns.core is not None:  # a child of --jobs: its own core, before JAX starts threads
        os.sched_setaffinity(0, {ns.core})
    if ns.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {ns.seeds}")
    cores = len(os.sched_getaffinity(0))
    if ns.only is None and not 1 <= ns.jobs <= cores:
        parser.error(f"--jobs must be between 1 and the {cores} CPU core(s) here, got {ns.jobs}")
    clash = sorted({a.partition("=")[0] for a in extra} & set(OWN_FLAGS))
    if clash:
        parser.error(f"{', '.join(clash)} is set by this script for each run; use --games, "
                     "--seeds and --dir")  # fmt: skip
    games = parse_games(ns.games)
    run_dir = Path(ns.dir)
    if ns.table_only:
        return write_table(run_dir, games, ns.seeds)
    plans = plan(games, ns.seeds, run_dir, extra)
    if ns.only is not None:  # a child of --jobs: one run
        _cli.train_planned([plans[ns.only]])
        return None
    if ns.jobs > 1:
        train_in_processes([a for a in args if a != "--only"], plans, ns.jobs)
    else:
        _cli.train_planned(plans)
    return write_table(run_dir, games, ns.seeds)


# ------------------------------------------------------------------------------ the table


def final_scores(run_dir: Path, games: list[str], seeds: int) -> dict[str, dict]:
    """Game → {"scores": the final evaluation score (mean of its evaluation games) of every
    finished seed, "frames": where it was taken}; runs not evaluated at their end are left
    out."""
    from jaxdqn import analysis

    out = {}
    for env in games:
        scores, frames = [], 0
        for seed in range(seeds):
            path = run_dir / f"{env}-seed{seed}"
            if _cli.run_state(path, "--dir") != "finished":
                continue
            run = analysis.load_run(path)
            scores.extend(analysis.final_eval(run).tolist())
            evals = run.records[run.records["phase"].isin(analysis.EVAL_PHASES)]
            frames = int(evals["frames"].max())
        if scores:
            out[env] = {"scores": scores, "frames": frames}
    return out


def game_rows(scores: dict[str, dict]) -> list[dict]:
    """Per game: seeds, mean with its 95% percentile-bootstrap CI over seeds, references."""
    import numpy as np

    from jaxdqn import analysis

    rows = []
    for env, found in scores.items():
        values = found["scores"]
        mean, low, high = analysis.mean_ci(values)
        random, human = atari_data.reference(env)
        rows.append({
            "game": env.removesuffix("-v5"), "seeds": len(values),
            "scores": values, "mean": mean, "low": low, "high": high,
            "random": random, "human": human,
            "drq_eps": atari_data.DRQ_EPS_100K.get(env),
            "hns": float(atari_data.human_normalized(env, np.mean(values))),
            "frames": found["frames"],
        })  # fmt: skip
    return rows


def aggregate(scores: dict[str, dict]) -> dict[str, tuple[float, float, float, float | None]]:
    """IQM, median and mean human-normalised score over the games, stratified-bootstrap CIs;
    and DrQ(ε)'s published value of each on the same games (a point, no CI)."""
    import numpy as np

    from jaxdqn import analysis

    hns = {env: atari_data.human_normalized(env, np.asarray(found["scores"]))
           for env, found in scores.items()}  # fmt: skip

    stats = {"IQM": analysis.iqm_of_games, "median": analysis.median_of_games,
             "mean": analysis.mean_of_games}  # fmt: skip
    published = {
        env: np.array([atari_data.human_normalized(env, atari_data.DRQ_EPS_100K[env])])
        for env in scores
        if env in atari_data.DRQ_EPS_100K
    }
    out = {}
    for name, fn in stats.items():
        ours = analysis.stratified_bootstrap_ci(hns, fn)
        theirs = float(fn([published[g] for g in sorted(published)])) if published else None
        out[name] = (*ours, theirs)
    return out


def write_table(run_dir: Path, games: list[str], seeds: int) -> str:
    """Writes atari100k.md / .csv / .png in run_dir; returns the Markdown."""
    import csv

    scores = final_scores(run_dir, games, seeds)
    if not scores:
        print(f"no finished run in {run_dir} yet: no table written", file=sys.stderr)
        return ""
    rows = game_rows(scores)
    agg = aggregate(scores)
    lines = [
        f"# Atari 100k, DrQ(ε) preset: {len(rows)} game(s), final evaluation "
        "(100 games at ε 0.001 after 100k agent steps unless the runs say otherwise)",
        "",
        "| game | seeds | mean final score [95% CI over seeds] | random | human | DrQ(ε) "
        "published | human-normalised (ours) | human-normalised (DrQ(ε)) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        drq = r["drq_eps"]
        drq_hns = None if drq is None else atari_data.human_normalized(r["game"] + "-v5", drq)
        lines.append(
            f"| {r['game']} | {r['seeds']} | {r['mean']:.1f} [{r['low']:.1f}, {r['high']:.1f}]"
            f" | {r['random']:g} | {r['human']:g} | {'—' if drq is None else f'{drq:g}'} | "
            f"{r['hns']:.3f} | {'—' if drq_hns is None else f'{drq_hns:.3f}'} |"
        )
    lines += [
        "",
        "| human-normalised, over games | ours [95% stratified-bootstrap CI] | DrQ(ε) published |",
        "|---|---:|---:|",
    ]
    for name, (point, low, high, theirs) in agg.items():
        published = "—" if theirs is None else f"{theirs:.3f}"
        lines.append(f"| {name} | {point:.3f} [{low:.3f}, {high:.3f}] | {published} |")
    lines += [
        "",
        "Random and human: the 57-game table of the Atari 100k literature "
        "(`jaxdqn/atari_data.py`). DrQ(ε) published: mean of 100 runs per game "
        "(Agarwal et al. 2021, rliable data).",
        "",
    ]
    table = "\n".join(lines)
    (run_dir / "atari100k.md").write_text(table, encoding="utf-8")
    with open(run_dir / "atari100k.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["game", "seeds", "scores", "mean", "ci_low", "ci_high", "random",
                         "human", "drq_eps_published", "human_normalized"])  # fmt: skip
        for r in rows:
            writer.writerow([r["game"], r["seeds"], " ".join(f"{s:g}" for s in r["scores"]),
                             r["mean"], r["low"], r["high"], r["random"], r["human"],
                             r["drq_eps"], r["hns"]])  # fmt: skip
    plot(run_dir, games, seeds, rows)
    print(table)
    print(f"wrote {run_dir / 'atari100k.md'}, .csv and .png")
    return table


def plot(run_dir: Path, games: list[str], seeds: int, rows: list[dict]) -> Path:
    """One panel per game: each seed's training game scores against frames (moving average
    of 10 games), its final evaluation, and the published random and DrQ(ε) levels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxdqn import analysis

    by_game = {r["game"] + "-v5": r for r in rows}
    n = len(games)
    cols = min(n, 4)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(4.2 * cols, 3.2 * -(-n // cols)),
                             squeeze=False)  # fmt: skip
    for ax, env in zip(axes.flat, games, strict=False):
        for seed in range(seeds):
            path = run_dir / f"{env}-seed{seed}"
            if not (path / "metrics.jsonl").exists():
                continue
            records = analysis.load_run(path).records
            train = analysis.seed_scores(records, "train", smooth=10)
            if len(train):
                ax.plot(train["frames"], train["score"], lw=1, label=f"seed {seed} (training)")
        random, _ = atari_data.reference(env)
        ax.axhline(random, color="grey", ls=":", label="random")
        if env in atari_data.DRQ_EPS_100K:
            ax.axhline(atari_data.DRQ_EPS_100K[env], color="k", ls="--", label="DrQ(ε) published")
        if env in by_game:
            r = by_game[env]
            yerr = [[r["mean"] - r["low"]], [r["high"] - r["mean"]]]
            ax.errorbar([r["frames"]], [r["mean"]], yerr=yerr, fmt="o", color="C3", capsize=3,
                        label="final eval, 95% CI over seeds")  # fmt: skip
        ax.set_title(env.removesuffix("-v5"))
        ax.set_xlabel("frames")
        ax.set_ylabel("game score")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    out = run_dir / "atari100k.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


if __name__ == "__main__":
    main()
