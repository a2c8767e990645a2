"""Atari 100k (Kaiser et al. 2020) with DrQ(ε) (Agarwal et al. 2021) or DER (van Hasselt et al.
2019): games × seeds, then a table beside the published random, human and agent's scores.

    python experiments/atari100k.py --games Assault --seeds 3
    python experiments/atari100k.py --games all --seeds 5 --dir runs/atari100k --jobs 2
    python experiments/atari100k.py --games Assault --seeds 3 --preset der --jobs 2

One run per game and seed, `<dir>/<env id>-seed<k>`: the preset (`--preset drq_eps`, the
default, or `--preset der`, Dopamine's DER.gin; both 100,000 agent steps = 400,000 frames, one
update per step, 100 evaluation games at ε 0.001 at the end) with seed k. Each preset needs its
own `--dir` (default runs/atari100k for drq_eps, runs/atari100k-der for der): runs are named by
game and seed only, so a directory holding another preset's runs is refused, by training as by
`--table-only`. Runs are trained game by game; a finished run is reused, an unfinished one
resumed from its latest checkpoint, a directory holding other settings refused. `--jobs J`
trains J runs at a time, each in its own process pinned to its own CPU core: on the 2-core CPU
two one-core processes train 1.5× more agent steps per second in total than one process on both
cores (BENCHMARKS.md, "Atari 100k"). Any flag this script does not know goes to every run, e.g.
`--total-frames 8000 --eval-episodes 2` for a smoke test.

Writes `<dir>/atari100k.md` (the table), `<dir>/atari100k.csv` and `<dir>/atari100k.png`:
per game the mean final score over seeds with a 95% bootstrap CI, beside random, human and the
preset's agent's published mean (jaxdqn.atari_data.PUBLISHED_100K: DrQ(ε) for all 26 games;
DER for Assault only, "—" elsewhere); and the IQM, median and mean human-normalised score over
the games run, with stratified-bootstrap 95% CIs (Agarwal et al. 2021), the agent's published
ones beside them when it has a value for every game run. Human-normalised scores use the
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

# Run from a clone without installing: the repository root holds the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxdqn import atari_data, cli  # noqa: E402

PRESET = "drq_eps"  # the default --preset; the choices: atari_data.PUBLISHED_100K
OWN_FLAGS = ("--env-id", "--seed", "--num-seeds", "--run-dir", "--run-name", "--resume")


def check_preset(name: str) -> str:
    """A preset with published Atari 100k scores to compare with; exit 2 on any other name."""
    from jaxdqn.presets import PRESETS

    choices = [p for p in atari_data.PUBLISHED_100K if p in PRESETS]
    if name not in choices:
        listed = ", ".join(f"{p} ({atari_data.PUBLISHED_100K[p].agent})" for p in choices)
        cli.refuse(f"--preset: {name!r} is not an Atari 100k preset; one of {listed}")
    return name


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
            cli.refuse(f"--games: {name!r} is not an Atari 100k game.{hint if close else ''} "
                       f"The 26 games: {names} (or all).")  # fmt: skip
        if by_name[key] not in games:
            games.append(by_name[key])
    if not games:
        cli.refuse("--games: give at least one game, e.g. --games Assault, or all")
    return games


def plan(
    games: list[str], seeds: int, run_dir: Path, extra: list[str], preset: str = PRESET
) -> list[cli.PlannedRun]:
    """Every (game, seed) run of `preset`, parsed and checked (flags, memory, directories: one
    holding a run with other settings, such as another preset's, is refused) before training."""
    from jaxdqn.presets import PRESETS

    plans = []
    for env in games:
        for seed in range(seeds):
            name = f"{env}-seed{seed}"
            flags = ["--no-progress", *extra, "--env-id", env, "--seed", str(seed),
                     "--num-seeds", "1", "--run-dir", str(run_dir), "--run-name", name]  # fmt: skip
            plans.append(cli.plan_run(run_dir / name, flags, preset, PRESETS, __doc__, "--dir",
                                      label=f"{env} seed {seed}"))  # fmt: skip
    return plans


def train_in_processes(args: list[str], plans: list[cli.PlannedRun], jobs: int) -> None:
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
    parser.add_argument("--preset", default=PRESET,
                        help=f"{' or '.join(atari_data.PUBLISHED_100K)}: the runs' preset, and "
                        f"whose published scores the table shows (default: {PRESET})")  # fmt: skip
    parser.add_argument("--dir", default=None,
                        help="folder of the runs and table, one per preset (default: "
                        "runs/atari100k; runs/atari100k-<preset> for another preset)")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs trained at a time, one per CPU core (default: 1, in order in "
                        "this process)")  # fmt: skip
    parser.add_argument("--table-only", action="store_true",
                        help="train nothing: write the table of the runs that exist")  # fmt: skip
    parser.add_argument("--only", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--core", type=int, default=None, help=argparse.SUPPRESS)
    ns, extra = parser.parse_known_args(args)
    preset = check_preset(ns.preset)
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
    default_dir = "runs/atari100k" if preset == PRESET else f"runs/atari100k-{preset}"
    run_dir = Path(ns.dir or default_dir)
    if ns.table_only:
        return write_table(run_dir, games, ns.seeds, preset)
    plans = plan(games, ns.seeds, run_dir, extra, preset)
    if ns.only is not None:  # a child of --jobs: one run
        cli.train_planned([plans[ns.only]])
        return None
    if ns.jobs > 1:
        train_in_processes([a for a in args if a != "--only"], plans, ns.jobs)
    else:
        cli.train_planned(plans)
    return write_table(run_dir, games, ns.seeds, preset)


# ------------------------------------------------------------------------------ the table


def presets_matching(saved: dict) -> list[str]:
    """The presets of atari_data.PUBLISHED_100K whose settings a run's saved config (config.json's
    "config") has wherever those presets differ from one another (a setting the run lacks, one
    added to the library since, aside); empty for a run whose flags changed such a setting."""
    import dataclasses
    import json

    from jaxdqn.presets import PRESETS

    def flat(config) -> dict:
        return cli.flat(json.loads(json.dumps(dataclasses.asdict(config), default=str)))

    defaults = {p: flat(PRESETS[p]()) for p in atari_data.PUBLISHED_100K if p in PRESETS}
    keys = {k for d in defaults.values() for k in d
            if len({json.dumps(o.get(k)) for o in defaults.values()}) > 1}  # fmt: skip
    run = cli.flat(saved)
    return [p for p, d in defaults.items() if all(run[k] == d.get(k) for k in keys & set(run))]


def final_scores(run_dir: Path, games: list[str], seeds: int, preset: str = PRESET) -> dict:
    """Game → {"scores": the final evaluation score (mean of its evaluation games) of every
    finished seed, "frames": where it was taken}; runs not evaluated at their end are left
    out. A finished run of another preset than `preset` is refused (exit 2)."""
    from jaxdqn import analysis

    out = {}
    for env in games:
        scores, frames = [], 0
        for seed in range(seeds):
            path = run_dir / f"{env}-seed{seed}"
            if cli.run_state(path, "--dir") != "finished":
                continue
            matching = presets_matching(cli.read_config(path, "--dir")["config"])
            if matching and preset not in matching:
                cli.refuse(f"{path} holds a run of the {matching[0]} preset, not {preset}: "
                           "each preset needs its own --dir")  # fmt: skip
            run = analysis.load_run(path)
            scores.extend(analysis.final_eval(run).tolist())
            evals = run.records[run.records["phase"].isin(analysis.EVAL_PHASES)]
            frames = int(evals["frames"].max())
        if scores:
            out[env] = {"scores": scores, "frames": frames}
    return out


def game_rows(scores: dict[str, dict], preset: str = PRESET) -> list[dict]:
    """Per game: seeds, mean with its 95% percentile-bootstrap CI over seeds, references and
    the preset's agent's published mean ("published", None where none is cited)."""
    import numpy as np

    from jaxdqn import analysis

    published = atari_data.PUBLISHED_100K[preset].scores
    rows = []
    for env, found in scores.items():
        values = found["scores"]
        mean, low, high = analysis.mean_ci(values)
        random, human = atari_data.reference(env)
        rows.append({
            "game": env.removesuffix("-v5"), "seeds": len(values),
            "scores": values, "mean": mean, "low": low, "high": high,
            "random": random, "human": human, "published": published.get(env),
            "hns": float(atari_data.human_normalized(env, np.mean(values))),
            "frames": found["frames"],
        })  # fmt: skip
    return rows


def aggregate(
    scores: dict[str, dict], preset: str = PRESET
) -> dict[str, tuple[float, float, float, float | None]]:
    """IQM, median and mean human-normalised score over the games, stratified-bootstrap CIs;
    and the preset's agent's published value of each on the same games (a point, no CI), None
    unless it has a published score for every game."""
    import numpy as np

    from jaxdqn import analysis

    hns = {env: atari_data.human_normalized(env, np.asarray(found["scores"]))
           for env, found in scores.items()}  # fmt: skip

    stats = {"IQM": analysis.iqm_of_games, "median": analysis.median_of_games,
             "mean": analysis.mean_of_games}  # fmt: skip
    table = atari_data.PUBLISHED_100K[preset].scores
    published = {
        env: np.array([atari_data.human_normalized(env, table[env])])
        for env in scores
        if env in table
    }
    complete = bool(published) and len(published) == len(scores)
    out = {}
    for name, fn in stats.items():
        ours = analysis.stratified_bootstrap_ci(hns, fn)
        theirs = float(fn([published[g] for g in sorted(published)])) if complete else None
        out[name] = (*ours, theirs)
    return out


def markdown(rows: list[dict], agg: dict, preset: str = PRESET) -> str:
    """The table of write_table, the published columns named after the preset's agent."""
    agent, _, source = atari_data.PUBLISHED_100K[preset]
    lines = [
        f"# Atari 100k, {agent} preset: {len(rows)} game(s), final evaluation "
        "(100 games at ε 0.001 after 100k agent steps unless the runs say otherwise)",
        "",
        f"| game | seeds | mean final score [95% CI over seeds] | random | human | {agent} "
        f"published | human-normalised (ours) | human-normalised ({agent}) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        pub = r["published"]
        pub_hns = None if pub is None else atari_data.human_normalized(r["game"] + "-v5", pub)
        lines.append(
            f"| {r['game']} | {r['seeds']} | {r['mean']:.1f} [{r['low']:.1f}, {r['high']:.1f}]"
            f" | {r['random']:g} | {r['human']:g} | {'—' if pub is None else f'{pub:g}'} | "
            f"{r['hns']:.3f} | {'—' if pub_hns is None else f'{pub_hns:.3f}'} |"
        )
    lines += [
        "",
        f"| human-normalised, over games | ours [95% stratified-bootstrap CI] | {agent} "
        "published |",
        "|---|---:|---:|",
    ]
    for name, (point, low, high, theirs) in agg.items():
        published = "—" if theirs is None else f"{theirs:.3f}"
        lines.append(f"| {name} | {point:.3f} [{low:.3f}, {high:.3f}] | {published} |")
    lines += [
        "",
        "Random and human: the 57-game table of the Atari 100k literature "
        f"(`jaxdqn/atari_data.py`). {agent} published: {source}.",
        "",
    ]
    return "\n".join(lines)


def write_table(run_dir: Path, games: list[str], seeds: int, preset: str = PRESET) -> str:
    """Writes atari100k.md / .csv / .png in run_dir; returns the Markdown. The CSV's published
    column is `<preset>_published` (drq_eps_published for drq_eps)."""
    import csv

    scores = final_scores(run_dir, games, seeds, preset)
    if not scores:
        print(f"no finished run in {run_dir} yet: no table written", file=sys.stderr)
        return ""
    rows = game_rows(scores, preset)
    table = markdown(rows, aggregate(scores, preset), preset)
    (run_dir / "atari100k.md").write_text(table, encoding="utf-8")
    with open(run_dir / "atari100k.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["game", "seeds", "scores", "mean", "ci_low", "ci_high", "random",
                         "human", f"{preset}_published", "human_normalized"])  # fmt: skip
        for r in rows:
            writer.writerow([r["game"], r["seeds"], " ".join(f"{s:g}" for s in r["scores"]),
                             r["mean"], r["low"], r["high"], r["random"], r["human"],
                             r["published"], r["hns"]])  # fmt: skip
    plot(run_dir, games, seeds, rows, preset)
    print(table)
    print(f"wrote {run_dir / 'atari100k.md'}, .csv and .png")
    return table


def plot(
    run_dir: Path, games: list[str], seeds: int, rows: list[dict], preset: str = PRESET
) -> Path:
    """One panel per game: each seed's training game scores against frames (moving average
    of 10 games), its final evaluation, and the published random level and the preset's
    agent's (where it has one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxdqn import analysis

    agent, published, _ = atari_data.PUBLISHED_100K[preset]
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
        if env in published:
            ax.axhline(published[env], color="k", ls="--", label=f"{agent} published")
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
