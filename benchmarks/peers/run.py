"""Speed against the peers: each peer and jaxdqn, interleaved on one pinned core, same game.

Builds each peer in its own virtualenv under `--cache` (its source pinned by commit and
sha256; see cleanrl.py and dopamine.py for where each comes from and what it needs), then runs
peer and jaxdqn in turns (A B A B …, `--rounds`) on core `--core`, each for `--seconds` of its
learning phase, and counts agent steps over time from each one's own output. Reports, per peer,
the minimum / median / maximum over intervals of the steady learning-phase agent steps per
second (wall clock, and per CPU-second of the process: on a shared machine the latter moves
less), the ratio of the medians, and the settings side by side. Writes `<peer>.md`,
`peers.json` and every run's stamped log (`logs/<peer>/`) to `--out`.

    python benchmarks/peers/run.py                                  # both peers, 3 rounds of 5 min
    python benchmarks/peers/run.py --peers cleanrl --seconds 60 --rounds 1   # does it work
    python benchmarks/peers/run.py --peers dopamine --conv-padding SAME      # Dopamine's network
    python benchmarks/peers/run.py --cleanrl-src ~/src/cleanrl      # source from a checkout

The pairs: CleanRL's `dqn_atari_jax.py` against `--preset cleanrl`, Dopamine's DrQ(ε) against
`--preset drq_eps`, purejaxql's `pqn_atari.py` against `--preset pqn_atari`, on Assault. Both
sides fix ε at 0.01 (the steady phase after exploration: greedy actions, one forward pass per
step) and warm up 1,000 agent steps (PQN's pair: none, 128 envs each), so that a short run
measures the learning phase a long run spends nearly all its time in; the Nature pair holds
100,000 transitions, the DrQ(ε) pair 110,000 (the preset's).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from benchmarks.peers import cleanrl, common, dopamine, jaxdqn_side, purejaxql  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What both sides of every round share."""

    game: str
    seconds: float
    core: int
    learning_starts: int
    replay_capacity: int
    epsilon: float
    skip: float  # seconds of the learning phase left out (the peer's first update compiles)
    interval: float  # seconds per measured interval
    startup_limit: float  # seconds allowed before learning starts
    envs_per_seed: int = 1  # PQN's pair: 128, purejaxql's


def jaxdqn_command(c: Comparison, preset: str, conv_padding: str | None = None) -> list[str]:
    padding = [f"--conv-padding={conv_padding}"] if conv_padding else []
    return [sys.executable, os.path.join(ROOT, "benchmarks", "peers", "jaxdqn_side.py"),
            f"--preset={preset}", f"--env-id={c.game}-v5",
            f"--learning-starts={c.learning_starts}", f"--replay-capacity={c.replay_capacity}",
            f"--epsilon={c.epsilon}", f"--envs-per-seed={c.envs_per_seed}", *padding]  # fmt: skip


def jaxdqn_counter(line: str) -> int | None:
    if not line.startswith("jaxdqn agent_steps="):
        return None
    return int(line.split("=", 1)[1])


def one_run(name: str, cmd: list[str], counter: Callable, c: Comparison, log_dir: str,
            round_index: int) -> dict:  # fmt: skip
    """One pinned run of one side: its samples turned into interval rates."""
    log_path = os.path.join(log_dir, f"{name}-round{round_index}.log")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu"}
    print(f"round {round_index}: {name} on core {c.core} ({log_path})", flush=True)
    samples = common.run_pinned(cmd, c.core, counter, c.seconds, c.startup_limit, cwd=log_dir,
                                env=env, log_path=log_path)  # fmt: skip
    wall = common.interval_rates(samples, c.skip, c.interval, "wall")
    cpu = common.interval_rates(samples, c.skip, c.interval, "cpu")
    print(f"  {name}: {len(samples)} samples, median "
          f"{common.summary(wall)['median']} agent steps/s", flush=True)  # fmt: skip
    return {"side": name, "round": round_index, "log": log_path, "samples": len(samples),
            "steps": samples[-1].steps if samples else 0, "wall_rates": wall,
            "cpu_rates": cpu}  # fmt: skip


def interleave(args: argparse.Namespace, c: Comparison, peer: str, peer_side: Callable,
               preset: str) -> list[dict]:  # fmt: skip
    """`--rounds` rounds of the peer then jaxdqn (A B A B …), each one pinned run."""
    log_dir = os.path.join(args.out, "logs", peer)
    os.makedirs(log_dir, exist_ok=True)
    sides = {peer: peer_side, "jaxdqn": lambda: (jaxdqn_command(c, preset, args.conv_padding),
                                                 jaxdqn_counter)}  # fmt: skip
    runs = []
    for r in range(args.rounds):
        for name, make in sides.items():
            cmd, counter = make()
            runs.append(one_run(name, cmd, counter, c, log_dir, r))
    return runs


def compare_cleanrl(args: argparse.Namespace, c: Comparison) -> dict:
    """CleanRL's dqn_atari_jax.py against `--preset cleanrl`."""
    home = os.path.join(args.cache, "cleanrl")
    src = common.fetch_source(cleanrl.SOURCE, os.path.join(home, "src"), args.cleanrl_src)
    python = common.make_venv(os.path.join(home, "venv"), cleanrl.requirements())
    cmd = cleanrl.command(python, src, c.game, c.learning_starts, c.replay_capacity, c.epsilon)
    runs = interleave(args, c, "cleanrl", lambda: (cmd, cleanrl.new_counter()), "cleanrl")
    table = cleanrl.settings(jaxdqn_config(c, "cleanrl", args.conv_padding))
    return {"peer": "cleanrl", "source": f"{cleanrl.SOURCE.repo}@{cleanrl.SOURCE.commit}",
            "versions": common.installed_versions(python, cleanrl.VERSIONED), "runs": runs,
            "settings": table}  # fmt: skip


def compare_dopamine(args: argparse.Namespace, c: Comparison) -> dict:
    """Dopamine's DrQ(ε) against `--preset drq_eps`."""
    home = os.path.join(args.cache, "dopamine")
    src = common.fetch_source(dopamine.SOURCE, os.path.join(home, "src"), args.dopamine_src)
    with_deps, without = dopamine.requirements()
    python = common.make_venv(os.path.join(home, "venv"), with_deps, no_deps=without,
                              after=lambda py: dopamine.install_source(py, src))  # fmt: skip
    base_dir = os.path.join(args.out, "dopamine-base")
    cmd = dopamine.command(python, src, base_dir, c.game, c.learning_starts,
                           args.drq_replay_capacity, c.epsilon)  # fmt: skip

    def side():
        shutil.rmtree(base_dir, ignore_errors=True)  # a fresh run, not a resumed checkpoint
        return cmd, dopamine.counter

    drq = dataclasses.replace(c, replay_capacity=args.drq_replay_capacity)
    runs = interleave(args, drq, "dopamine", side, "drq_eps")
    table = dopamine.settings(jaxdqn_config(drq, "drq_eps", args.conv_padding))
    return {"peer": "dopamine", "source": f"{dopamine.SOURCE.repo}@{dopamine.SOURCE.commit}",
            "versions": common.installed_versions(python, dopamine.VERSIONED), "runs": runs,
            "settings": table}  # fmt: skip


def compare_purejaxql(args: argparse.Namespace, c: Comparison) -> dict:
    """purejaxql's pqn_atari.py against `--preset pqn_atari`: 128 envs each, no warm-up, no
    replay (the rollout is the batch)."""
    home = os.path.join(args.cache, "purejaxql")
    src = common.fetch_source(purejaxql.SOURCE, os.path.join(home, "src"), args.purejaxql_src)
    python = common.make_venv(os.path.join(home, "venv"), purejaxql.requirements())
    cmd = purejaxql.command(python, src, c.game, c.epsilon)
    pqn = dataclasses.replace(c, learning_starts=0, envs_per_seed=128)
    runs = interleave(args, pqn, "purejaxql", lambda: (cmd, purejaxql.counter), "pqn_atari")
    table = purejaxql.settings(jaxdqn_config(pqn, "pqn_atari", args.conv_padding))
    return {"peer": "purejaxql", "source": f"{purejaxql.SOURCE.repo}@{purejaxql.SOURCE.commit}",
            "versions": common.installed_versions(python, purejaxql.VERSIONED), "runs": runs,
            "settings": table}  # fmt: skip


def jaxdqn_config(c: Comparison, preset: str, conv_padding: str | None):
    argv = jaxdqn_command(c, preset, conv_padding)[2:]
    return jaxdqn_side.make_config(jaxdqn_side.parser().parse_args(argv))


def pooled(result: dict, side: str, clock: str) -> dict:
    rates = [x for run in result["runs"] if run["side"] == side for x in run[f"{clock}_rates"]]
    return common.summary(rates)


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.1f}"


def markdown(result: dict, c: Comparison, header: dict) -> str:
    """The comparison as a results page: rates, ratio, settings."""
    peer = result["peer"]
    lines = [f"# {peer} against jaxdqn, {c.game}, {header['date']}", "",
             f"jaxdqn commit {header['commit']}; {peer} {result['source']}; peer venv "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
             f"Command: `{header['command']}`. Core {c.core}; {header['rounds']} round(s) of "
             f"{c.seconds:g} s of learning each, the first {c.skip:g} s left out, "
             f"{c.interval:g} s intervals.", "",
             "| side | clock | min | median | max | intervals |",
             "|---|---|---:|---:|---:|---:|"]  # fmt: skip
    medians = {}
    for side in (peer, "jaxdqn"):
        for clock in ("wall", "cpu"):
            s = pooled(result, side, clock)
            medians[side, clock] = s["median"]
            cells = " | ".join(_fmt(s[k]) for k in ("min", "median", "max"))
            lines.append(f"| {side} | agent steps per {clock} s | {cells} | {s['intervals']} |")
    for clock in ("wall", "cpu"):
        a, b = medians["jaxdqn", clock], medians[peer, clock]
        ratio = f"{a / b:.2f}" if a and b else "–"
        lines.append(f"\njaxdqn / {peer}, medians per {clock} second: **{ratio}**")
    lines += ["", f"| setting | {peer} | jaxdqn | why |", "|---|---|---|---|"]
    lines += [f"| {s} | {p} | {j} | {w} |" for s, p, j, w in result["settings"]]
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                         capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    return out.stdout.strip() or "unknown"


PEERS = {"cleanrl": compare_cleanrl, "dopamine": compare_dopamine, "purejaxql": compare_purejaxql}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--peers", nargs="+", choices=list(PEERS), default=["cleanrl", "dopamine"],
                   help="default: cleanrl dopamine (purejaxql: opt-in)")  # fmt: skip
    p.add_argument("--game", default="Assault")
    p.add_argument("--seconds", type=float, default=300.0, help="learning time per run")
    p.add_argument("--rounds", type=int, default=3, help="rounds of peer then jaxdqn")
    p.add_argument("--core", type=int, default=1, help="the CPU core both sides are pinned to")
    p.add_argument("--cache", default=os.path.expanduser("~/.cache/jaxdqn-peers"))
    p.add_argument("--cleanrl-src", default=None, help="a CleanRL checkout to take files from")
    p.add_argument("--dopamine-src", default=None, help="a Dopamine checkout to take files from")
    p.add_argument("--purejaxql-src", default=None, help="a purejaxql checkout to take files from")
    p.add_argument(
        "--conv-padding",
        choices=["VALID", "SAME"],
        default=None,
        help="jaxdqn's convolutions (default: the preset's; SAME is Dopamine's)",
    )
    p.add_argument(
        "--drq-replay-capacity",
        type=int,
        default=110_000,
        help="both sides of the DrQ(ε) pair (the drq_eps preset's)",
    )
    p.add_argument("--out", default="peers")
    p.add_argument("--learning-starts", type=int, default=1_000)
    p.add_argument("--replay-capacity", type=int, default=100_000)
    p.add_argument(
        "--skip",
        type=float,
        default=None,
        help="seconds of learning left out (default: a sixth of --seconds)",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=None,
        help="seconds per interval (default: a tenth of --seconds)",
    )
    p.add_argument("--startup-limit", type=float, default=240.0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse(argv)
    args.out = os.path.abspath(args.out)
    c = Comparison(game=args.game, seconds=args.seconds, core=args.core,
                   learning_starts=args.learning_starts, replay_capacity=args.replay_capacity,
                   epsilon=0.01, skip=args.skip if args.skip is not None else args.seconds / 6,
                   interval=args.interval or args.seconds / 10,
                   startup_limit=args.startup_limit)  # fmt: skip
    command = " ".join(["python benchmarks/peers/run.py", *(argv or sys.argv[1:])])
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    header = {"commit": git_commit(), "rounds": args.rounds, "command": command, "date": date}
    results = []
    for peer in args.peers:
        result = PEERS[peer](args, c)
        result["comparison"], result["header"] = dataclasses.asdict(c), header
        results.append(result)
        page = markdown(result, c, header)
        with open(os.path.join(args.out, f"{peer}.md"), "w") as f:
            f.write(page)
        print(page)
    with open(os.path.join(args.out, "peers.json"), "w") as f:
        json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
