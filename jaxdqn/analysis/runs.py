"""A run directory as a tidy table: one row per metrics record, labelled from its data.

A run directory holds `metrics.jsonl` (one record per log interval per seed, see
`jaxdqn.logging`) and `config.json`. `load_run` reads both into a `Run` whose `records` is a
pandas DataFrame with a row per record and a column per metric (`seed`, `step`, `frames`,
`phase`, `time`, `charts/episodic_return`, `eval/score`, ...; null values are NaN) plus
`hours` (`time` / 3600).

The exploration parameter a run logs, `charts/<name>` (ε, τ, or whatever a forked policy
logs), names the run in legends and tables and splits a run whose seeds followed different
schedules (a τ sweep vmapped as seeds) into one `Run` per schedule. Nothing here looks at which
policy a run used: only at the columns its records carry and, for exact schedule ends, at the
`<name>_start` / `<name>_end` settings in its config when it has them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxdqn.metrics import read_records

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"

TRAIN_SCORE = "charts/episodic_return"
EVAL_SCORE = "eval/score"
EVAL_HUMAN_NORMALIZED = "eval/human_normalized"
TRAIN_PHASES = ("warmup", "learn")
EVAL_PHASES = ("eval",)

# `charts/` columns that describe games or speed, not the behaviour policy.
GAME_CHARTS = frozenset(
    {"episodic_return", "episodic_return_last", "episodes", "episodes_total", "SPS"}
)
SYMBOLS = {"epsilon": "ε", "temperature": "τ"}  # how a parameter is written in a legend


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory read from disk (or the seeds of one schedule of it)."""

    path: Path
    records: pd.DataFrame  # one row per metrics record
    config: dict | None  # the "config" entry of config.json; None if the file is missing
    part: str = ""  # which seeds of the run, when a run is split by schedule

    @property
    def name(self) -> str:
        return f"{self.path.name}[{self.part}]" if self.part else self.path.name

    @property
    def env_id(self) -> str | None:
        return (self.config or {}).get("env", {}).get("env_id")

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.records["seed"].unique())

    @property
    def label(self) -> str:
        return run_label(self)


def records_frame(records: Sequence[dict]) -> pd.DataFrame:
    """Records as a DataFrame, numbers as floats (null → NaN), with an `hours` column."""
    frame = pd.DataFrame.from_records(list(records))
    for column in frame.columns:
        if column != "phase":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    frame["seed"] = frame["seed"].astype(int)
    if "time" in frame:
        frame["hours"] = frame["time"] / 3600.0
    return frame


def load_run(run_dir: str | os.PathLike) -> Run:
    """Reads `run_dir/metrics.jsonl` and, if present, `run_dir/config.json`."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    records = records_frame(read_records(path / METRICS_FILE))
    config = None
    config_path = path / CONFIG_FILE
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8")).get("config")
        except (json.JSONDecodeError, AttributeError) as err:
            raise ValueError(f"{config_path}: malformed config file ({err})") from err
    return Run(path=path, records=records, config=config)


def exploration_parameter(run: Run) -> str | None:
    """The `<name>` of the `charts/<name>` column the run logs for its behaviour policy, or
    None. Among several candidates, one with a `<name>_start` setting wins."""
    names = [
        c.removeprefix("charts/")
        for c in run.records.columns
        if c.startswith("charts/")
        and c.removeprefix("charts/") not in GAME_CHARTS
        and run.records[c].notna().any()
    ]
    agent = (run.config or {}).get("agent") or {}
    names.sort(key=lambda n: f"{n}_start" not in agent)
    return names[0] if names else None


def _per_seed(value, seeds: Sequence[int]) -> list[float] | None:
    """A setting given once or once per seed, as the values of `seeds`."""
    if isinstance(value, (int, float)):
        return [float(value)] * len(seeds)
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return [float(value[0])] * len(seeds)
    if isinstance(value, (list, tuple)) and all(s < len(value) for s in seeds):
        return [float(value[s]) for s in seeds]
    return None


def schedule(run: Run, name: str) -> tuple[list[float], float]:
    """`(distinct start values, end value)` of the run's `name` schedule: the config's
    `<name>_start` / `<name>_end` when it has them, else the first and last logged values."""
    agent = (run.config or {}).get("agent") or {}
    logged = run.records.dropna(subset=[f"charts/{name}"]).sort_values(["step", "seed"])
    column = logged[f"charts/{name}"]
    starts = _per_seed(agent.get(f"{name}_start"), run.seeds)
    if starts is None:
        starts = logged.groupby("seed")[f"charts/{name}"].first().tolist()
    end = agent.get(f"{name}_end")
    end = float(end) if isinstance(end, (int, float)) else float(column.iloc[-1])
    return list(dict.fromkeys(starts)), end


def run_label(run: Run) -> str:
    """`epsilon (ε 1→0.01)`, `boltzmann (τ 1,5→0.05)`: the policy setting as recorded, and the
    schedule of the parameter the records carry; the run's name if neither is known."""
    policy = ((run.config or {}).get("agent") or {}).get("policy") or run.name
    name = exploration_parameter(run)
    if name is None:
        return policy
    starts, end = schedule(run, name)
    symbol = SYMBOLS.get(name, name)
    return f"{policy} ({symbol} {','.join(f'{s:g}' for s in starts)}→{end:g})"


def split_run(run: Run) -> list[Run]:
    """One Run per group of seeds that logged the same parameter values at the steps all
    seeds logged (a sweep of start values vmapped as seeds), in order of their first seed; a
    run whose seeds all followed one schedule as itself."""
    name = exploration_parameter(run)
    if name is None:
        return [run]
    logged = run.records.dropna(subset=[f"charts/{name}"])
    logged = logged.drop_duplicates(["step", "seed"], keep="last")
    shared = logged.pivot(index="step", columns="seed", values=f"charts/{name}").dropna()
    if shared.empty:
        return [run]
    by_values = pd.Series({s: tuple(np.round(shared[s].to_numpy(), 12)) for s in shared})
    groups = list(by_values.groupby(by_values, sort=False).groups.values())
    if len(groups) < 2:
        return [run]
    parts = []
    for seeds in sorted(groups, key=min):
        records = run.records[run.records["seed"].isin(seeds)]
        part = Run(path=run.path, records=records, config=run.config)
        starts, _ = schedule(part, name)
        tag = ",".join(f"{s:g}" for s in starts)
        parts.append(dataclasses.replace(part, part=f"{name}={tag}"))
    return parts


def agent_label(run: Run) -> str:
    """`categorical_double_q, mlp_dueling, noisy, 3-step, prioritized`: what the agent learns
    and with which parts, from the run's config (the loss; the network, noise, n-step returns
    and prioritised replay where set); `pqn (λ 0.65), minatar, layer_norm` for PQN."""
    config = run.config or {}
    agent, replay = config.get("agent") or {}, config.get("replay") or {}
    if agent.get("learner") == "pqn":  # no replay, no loss name: Q(λ) over rollouts
        norm = ", layer_norm" if agent.get("layer_norm") else ""
        return f"pqn (λ {agent.get('td_lambda', '?')}), {agent.get('network', '?')}{norm}"
    parts = [agent.get("loss", "?"), agent.get("network", "?")]
    parts += ["noisy"] if agent.get("noisy") else []
    parts += [f"{replay['n_step']}-step"] if (replay.get("n_step") or 1) > 1 else []
    parts += ["prioritized"] if replay.get("prioritized") else []
    return ", ".join(parts)


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Labels for runs drawn together: the agent (`agent_label`) is prefixed when runs differ
    in it, the game when they differ in game, and the run's name is appended where labels
    would otherwise coincide."""
    labels = [run.label for run in runs]
    agents = [agent_label(run) for run in runs]
    if len(set(agents)) > 1:
        labels = [f"{agent} · {label}" for agent, label in zip(agents, labels, strict=True)]
    if len({run.env_id for run in runs}) > 1:
        labels = [f"{run.env_id or '?'} · {label}" for run, label in zip(runs, labels, strict=True)]
    if len(set(labels)) < len(labels):
        labels = [
            f"{label} [{run.name}]" if labels.count(label) > 1 else label
            for run, label in zip(runs, labels, strict=True)
        ]
    return labels


def final_eval(run: Run, key: str = EVAL_SCORE) -> pd.Series:
    """Per seed (the index), `key` of the seed's last evaluation record that has it."""
    evals = run.records[run.records["phase"].isin(EVAL_PHASES)]
    if key not in evals:
        return pd.Series(dtype=float, name=key)
    return evals.dropna(subset=[key]).groupby("seed")[key].last()
