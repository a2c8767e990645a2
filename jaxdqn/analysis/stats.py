"""Bootstrap confidence intervals and the aggregates of Agarwal et al. 2021.

Two bootstraps, both percentile intervals:

- `bootstrap_ci`: of the mean of one set of values (the seeds of a run at one point of a
  curve). Its draws are those of seaborn's `errorbar=("ci", level)` with an integer `seed`
  (`numpy.random.default_rng(seed)`, resample k is the k-th `integers(0, n, n)`): given the
  values in the order seaborn holds them (sorted by value within an x) the two intervals are
  equal (tests/test_analysis.py). Curves pass the seeds in seed order.
- `stratified_bootstrap_ci`: of an aggregate over games (IQM, median or mean of
  human-normalised scores), the runs of each game resampled within that game, as `rliable`'s
  `StratifiedBootstrap`.

The stratified bootstrap is written here rather than taken from `rliable` 1.2.0: that pulls
in `arch`, `statsmodels` and `patsy` for these few lines, and `from rliable import library`
fails inside `arch` 7.2.0 under `pandas` 3. tests/test_analysis.py cross-checks the two where
`rliable` imports.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0
CURVE_RESAMPLES = 10_000  # resamples of a curve's band or of a final score's CI
AGGREGATE_RESAMPLES = 50_000  # rliable's default


def _tails(confidence: float) -> np.ndarray:
    return 100 * np.array([(1 - confidence) / 2, (1 + confidence) / 2])


@functools.lru_cache(maxsize=64)
def _resamples(n: int, reps: int, seed: int) -> np.ndarray:
    idx = np.random.default_rng(seed).integers(0, n, size=(reps, n))
    idx.flags.writeable = False
    return idx  # [reps, n]


def bootstrap_ci(
    values: Sequence[float],
    reps: int = CURVE_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean of `values` (seeds resampled with replacement).

    Args:
      values: one value per seed, in seed order (the resamples index them by position).
      reps: resamples; seed: of `numpy.random.default_rng`; confidence: e.g. 0.95.

    Returns:
      `(low, high)`: the `(1 ± confidence) / 2` percentiles (numpy's linear interpolation) of
      the resampled means. One value gives `(value, value)`.
    """
    v = np.asarray(values, np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"bootstrap of the mean needs a non-empty 1-D array, got {v.shape}")
    boot = v[_resamples(v.size, reps, seed)].mean(axis=1)
    low, high = np.percentile(boot, _tails(confidence))
    return float(low), float(high)


def mean_ci(
    values: Sequence[float], reps: int = CURVE_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float, float]:
    """`(mean, low, high)` of `values` with the 95% CI of `bootstrap_ci`."""
    low, high = bootstrap_ci(values, reps, seed)
    return float(np.mean(values)), low, high


def iqm(scores, axis: int | None = -1) -> np.ndarray:
    """Interquartile mean: the mean after cutting `int(0.25 n)` values from each end
    (`scipy.stats.trim_mean(x, 0.25)`, as `rliable`); `axis=None` pools everything."""
    x = np.asarray(scores, np.float64)
    if axis is None:
        x, axis = x.ravel(), -1
    x = np.sort(x, axis=axis)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("IQM of no scores")
    k = int(0.25 * n)
    return np.take(x, np.arange(k, n - k), axis=axis).mean(axis=axis)


def iqm_of_games(games: Sequence[np.ndarray]) -> np.ndarray:
    """IQM of all runs of all games pooled; each game `[..., runs]`."""
    return iqm(np.concatenate(games, axis=-1), axis=-1)


def mean_of_games(games: Sequence[np.ndarray]) -> np.ndarray:
    """Mean over games of the mean over each game's runs (`rliable`'s aggregate mean)."""
    return np.mean([g.mean(-1) for g in games], axis=0)


def median_of_games(games: Sequence[np.ndarray]) -> np.ndarray:
    """Median over games of the mean over each game's runs (`rliable`'s aggregate median)."""
    return np.median([g.mean(-1) for g in games], axis=0)


def stratified_bootstrap_ci(
    scores: Mapping[str, Sequence[float]],
    statistic: Callable[[Sequence[np.ndarray]], np.ndarray],
    reps: int = AGGREGATE_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """Point estimate and percentile CI of an aggregate over games (Agarwal et al. 2021).

    Args:
      scores: game -> the scores of its runs (seeds); games may have different run counts.
      statistic: maps a list of per-game arrays `[..., runs]` (games in sorted order) to the
        aggregate over their last axes, e.g. `iqm_of_games`, `mean_of_games`.

    Returns:
      `(statistic of the data, low, high)`. Each resample draws every game's runs with
      replacement within that game: one `numpy.random.default_rng(seed)`, games in sorted
      order, `integers(0, n_game, size=(reps, n_game))` per game.
    """
    names = sorted(scores)
    games = [np.asarray(scores[g], np.float64) for g in names]
    if not games or any(g.ndim != 1 or g.size == 0 for g in games):
        raise ValueError("stratified bootstrap needs at least one score for every game")
    rng = np.random.default_rng(seed)
    resampled = [g[rng.integers(0, g.size, size=(reps, g.size))] for g in games]
    low, high = np.percentile(statistic(resampled), _tails(confidence))
    return float(statistic(games)), float(low), float(high)


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) of one game (Agarwal et al. 2021): the chance that a run of X scores above a
    run of Y, each of X's runs against each of Y's, a tie counting one half (the Mann-Whitney
    U statistic over |x|·|y|)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.size == 0 or y.size == 0:
        raise ValueError(f"needs one score per run of each, got shapes {x.shape}, {y.shape}")
    return float(_improvement(x[None], y[None])[0])


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`probability_of_improvement` of each row: x `[reps, n]`, y `[reps, m]` → `[reps]`."""
    diff = x[:, :, None] - y[:, None, :]
    return ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))


def probability_of_improvement_ci(
    x: Sequence[float],
    y: Sequence[float],
    reps: int = AGGREGATE_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """`(P(X > Y), low, high)`: the percentile CI resamples the runs of X and of Y, each with
    replacement within itself (rliable's stratified bootstrap over two independent sets of
    runs): one `numpy.random.default_rng(seed)`, X's indices drawn first."""
    p = probability_of_improvement(x, y)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    rng = np.random.default_rng(seed)
    xs = x[rng.integers(0, x.size, size=(reps, x.size))]
    ys = y[rng.integers(0, y.size, size=(reps, y.size))]
    low, high = np.percentile(_improvement(xs, ys), _tails(confidence))
    return p, float(low), float(high)
