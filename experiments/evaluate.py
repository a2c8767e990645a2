"""Evaluate a finished run's agents again: every seed, N full games, any exploration policy.

    python experiments/evaluate.py --run runs/NAME --episodes 100 --epsilon 0
    python experiments/evaluate.py --run runs/NAME --policy boltzmann --temperature 0.1
    python experiments/evaluate.py --run runs/NAME --episodes 10 --epsilon 0 --q-gaps

The games follow the run's evaluation protocol (`docs/evaluation.md`: full games, real scores,
no-op starts, the evaluation cap) and are the same games, seed for seed, as the run's own
evaluation with as many games, so two policies are compared on paired games. All seeds play
at once, each in its own envs. `--q-gaps` also reports, per seed, the gap between the largest
and second-largest Q-value over every state played (how far apart the agent's action values
are: the scale a Boltzmann τ acts on). `--out FILE` writes the scores (and gaps) as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

from jaxdqn.checkpoint import (  # noqa: E402
    Checkpointer,
    CheckpointError,
    load_run_config,
    load_run_options,
)
from jaxdqn.evaluate import make_evaluator  # noqa: E402
from jaxdqn.networks import forward  # noqa: E402
from jaxdqn.play import abstract_params, play_policy  # noqa: E402
from jaxdqn.registry import ComponentModuleError  # noqa: E402
from jaxdqn.rundir import import_components  # noqa: E402
from jaxdqn.train import make_network, observation_spec  # noqa: E402

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class Args:
    run: tuple[str, ...]
    """Run directories (runs/NAME) holding config.json and checkpoints/; with --q-gaps the
    gaps of all of them are also pooled."""
    episodes: int = 100
    """Full games per seed."""
    policy: str = "epsilon"
    """epsilon (ε-greedy) or boltzmann (softmax of Q/τ)."""
    epsilon: float | None = None
    """ε of the ε-greedy policy (default: the run's --eval-epsilon)."""
    temperature: float | None = None
    """τ > 0 of the Boltzmann policy."""
    checkpoint: int | None = None
    """Agent step of the checkpoint to load (default: the latest)."""
    q_gaps: bool = False
    """Also report the gap between each state's largest and second-largest Q-value."""
    key: int = 0
    """Seed of the policy's random draws."""
    out: str | None = None
    """Write the results to this JSON file."""


class Gaps:
    """observe(q, playing) for the evaluator: keeps, per seed, top-1 − top-2 Q of every state
    of a game still playing."""

    def __init__(self, num_seeds: int):
        self.per_seed = [[] for _ in range(num_seeds)]

    def arrays(self) -> list[np.ndarray]:
        return [np.concatenate(gaps) for gaps in self.per_seed]

    def __call__(self, q: np.ndarray, playing: np.ndarray) -> None:
        top2 = -np.partition(-q, 1, axis=-1)[..., :2]  # [S, n, 2]: largest, second largest
        gap = top2[..., 0] - top2[..., 1]
        for s, gaps in enumerate(self.per_seed):
            gaps.append(gap[s][playing[s]])

    def summary(self) -> list[dict]:
        out = []
        for g in self.arrays():
            quantiles = {str(q): float(np.quantile(g, q)) for q in QUANTILES}
            out.append(
                {"states": int(g.size), "median": float(np.median(g)), "quantiles": quantiles}
            )
        return out


def load_agents(run: str, args: Args):
    """(config, params of every seed, the checkpoint's agent step, the run's options), checked."""
    import_components(run)  # a fork's components, registered again by name
    config, options = load_run_config(run), load_run_options(run)
    checkpointer = Checkpointer(run)
    step = args.checkpoint if args.checkpoint is not None else checkpointer.latest_step()
    if step is None:
        raise CheckpointError(f"run {run} has no checkpoints")
    params = checkpointer.restore_params(abstract_params(config, options), step)
    return config, params, step, options


def evaluate_run(run: str, args: Args) -> tuple[dict, Gaps | None]:
    """Plays `args.episodes` games per seed of the run's checkpoint: (results, gaps)."""
    config, params, step, options = load_agents(run, args)
    epsilon = config.eval.eval_epsilon if args.epsilon is None else args.epsilon
    policy, parameter = play_policy(args.policy, epsilon=epsilon, temperature=args.temperature)
    config = dataclasses.replace(
        config, eval=dataclasses.replace(config.eval, eval_episodes=args.episodes)
    )
    network = make_network(config, observation_spec(config, options)[2])
    evaluator = make_evaluator(
        config,
        lambda p, obs, key: forward(network, p, obs, key).q_values,
        sample=lambda key, q: policy.sample(key, q, parameter),
        options=options,
    )
    gaps = Gaps(config.env.num_seeds) if args.q_gaps else None
    scores = evaluator(params, jax.random.PRNGKey(args.key), gaps)
    return {
        "run": run, "step": step, "policy": args.policy,
        policy.parameter_name: parameter, "episodes": args.episodes,
        "scores": scores.tolist(), "mean_score": scores.mean(axis=1).tolist(),
        **({"q_gaps": gaps.summary()} if gaps is not None else {}),
    }, gaps  # fmt: skip


def report(results: dict) -> None:
    name = "temperature" if "temperature" in results else "epsilon"
    print(f"{results['run']}: checkpoint at agent step {results['step']}, {results['policy']} "
          f"({name} {results[name]:g}), {results['episodes']} game(s) per seed")  # fmt: skip
    for s, mean in enumerate(results["mean_score"]):
        line = f"seed {s}: mean score {mean:.1f}"
        if "q_gaps" in results:
            g = results["q_gaps"][s]
            line += f"; Q gap median {g['median']:.4g} over {g['states']:,} states"
        print(line)


def main(argv: list[str] | None = None) -> dict:
    args = tyro.cli(Args, args=argv, description=__doc__)
    try:
        if args.episodes < 1:
            raise ValueError(f"episodes={args.episodes} must be >= 1")
        runs, pooled = [], []
        for run in args.run:
            results, gaps = evaluate_run(run, args)
            report(results)
            runs.append(results)
            pooled += [] if gaps is None else gaps.arrays()
    except (ValueError, FileNotFoundError, CheckpointError, ComponentModuleError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    out = {"runs": runs}
    if pooled:
        g = np.concatenate(pooled)
        out["q_gap_pooled"] = {"states": int(g.size), "median": float(np.median(g))}
        print(f"Q gap median over all {g.size:,} states of all seeds: {np.median(g):.4g}")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
