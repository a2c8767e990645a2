"""Atari game lists and reference score tables (jaxdqn.atari_data) against envpool and by hand."""

import envpool
import numpy as np
import pytest

from jaxdqn import atari_data, evaluate
from jaxdqn.atari_data import (
    ATARI_57,
    ATARI_100K,
    DRQ_EPS_100K,
    HUMAN_RANDOM_57,
    NATURE_2015,
    human_normalized,
    reference,
)


def test_game_lists_are_envpool_tasks():
    tasks = set(envpool.list_all_envs())
    assert [g for g in ATARI_57 + ATARI_100K if g not in tasks] == []


def test_game_list_sizes_and_subset():
    assert len(ATARI_57) == len(set(ATARI_57)) == 57
    assert len(ATARI_100K) == len(set(ATARI_100K)) == 26
    assert set(ATARI_100K) <= set(ATARI_57)


def test_every_game_has_random_below_human():
    # The cited 57-game table (DQN Zoo) and Mnih et al. 2015's 49-game table have no game with
    # human <= random, so the check holds for every entry without exception.
    assert set(HUMAN_RANDOM_57) == set(ATARI_57)
    assert [g for g, (rnd, hum) in HUMAN_RANDOM_57.items() if not hum > rnd] == []
    assert len(NATURE_2015) == 49 and set(NATURE_2015) <= set(ATARI_57)
    assert [g for g, (rnd, hum) in NATURE_2015.items() if not hum > rnd] == []
    missing = {"Berzerk", "Defender", "Phoenix", "Pitfall", "Skiing", "Solaris", "Surround"}
    assert set(ATARI_57) - set(NATURE_2015) == {f"{g}-v5" for g in missing | {"YarsRevenge"}}


def test_spot_values_from_the_cited_tables():
    # DQN Zoo dqn_zoo/atari_data.py (57 games) vs Mnih et al. 2015 Extended Data Table 2.
    assert HUMAN_RANDOM_57["Assault-v5"] == (222.4, 742.0)
    assert NATURE_2015["Assault-v5"] == (222.4, 1496.0)
    assert HUMAN_RANDOM_57["Breakout-v5"] == (1.7, 30.5)
    assert NATURE_2015["Breakout-v5"] == (1.7, 31.8)
    assert HUMAN_RANDOM_57["Pong-v5"] == (-20.7, 14.6)
    assert NATURE_2015["Pong-v5"] == (-20.7, 9.3)
    assert HUMAN_RANDOM_57["VideoPinball-v5"] == (16256.9, 17667.9)
    assert NATURE_2015["Seaquest-v5"] == (68.4, 20182.0)


def test_reference_lookup():
    assert reference("Assault-v5") == (222.4, 742.0)
    assert reference("ALE/Assault-v5", "nature") == (222.4, 1496.0)
    assert reference("Surround-v5", "nature") is None
    assert reference("CartPole-v1") is None
    with pytest.raises(ValueError, match="unknown reference table"):
        reference("Assault-v5", "nope")


def test_human_normalized_hand_worked():
    # Assault, 57-game table: human - random = 742.0 - 222.4 = 519.6, so 482.2 is halfway and
    # 1001.8 is 1.5; Nature table: 1496.0 - 222.4 = 1273.6, halfway at 859.2.
    hn = human_normalized("Assault-v5", [222.4, 482.2, 742.0, 1001.8])
    assert hn.dtype == np.float64
    np.testing.assert_allclose(hn, [0.0, 0.5, 1.0, 1.5])
    np.testing.assert_allclose(human_normalized("ALE/Assault-v5", 859.2, table="nature"), 0.5)
    # Pong: (0 - (-20.7)) / (14.6 - (-20.7)) = 20.7 / 35.3.
    np.testing.assert_allclose(human_normalized("Pong-v5", 0.0), 20.7 / 35.3)
    np.testing.assert_allclose(human_normalized("Pong-v5", 9.3, "nature"), 1.0)
    assert human_normalized("CartPole-v1", 500.0) is None
    assert human_normalized("Surround-v5", 0.0, table="nature") is None


def test_drq_eps_published_values():
    assert set(DRQ_EPS_100K) == set(ATARI_100K)  # every game was found in the source data
    # Agarwal et al. 2021, DrQ(ε), mean over 100 runs.
    for game, score in {
        "Assault-v5": 579.6,
        "Breakout-v5": 19.8,
        "Pong-v5": -9.1,
        "Boxing-v5": 9.0,
        "Freeway-v5": 20.3,
        "Kangaroo-v5": 1088.4,
    }.items():
        assert DRQ_EPS_100K[game] == score


def test_evaluate_uses_the_57_game_table():
    assert evaluate.REFERENCE_SCORES is atari_data.HUMAN_RANDOM_57
    np.testing.assert_allclose(evaluate.human_normalized("Assault-v5", 482.2), 0.5)
    assert evaluate.human_normalized("CartPole-v1", 1.0) is None


def test_atari_games_are_envpools_atari_registry():
    """ATARI_GAMES (so `is_atari`, frame skip and budgets) is known without importing an env
    library; it must stay the set of Atari tasks envpool registers."""
    import envpool
    import envpool.registration as reg

    registered = {e for e in envpool.list_all_envs()
                  if "atari" in str(reg.registry.specs[e][0]).lower()}  # fmt: skip
    assert registered == {f"{g}-v5" for g in atari_data.ATARI_GAMES}
    assert len(atari_data.ATARI_GAMES) == len(set(atari_data.ATARI_GAMES))


@pytest.mark.parametrize(
    "env_id, atari",
    [("Assault-v5", True), ("ALE/Assault-v5", True), ("ALE/Pong-v5", True),
     ("CartPole-v1", False), ("Ant-v5", False), ("Assault-v4", False), ("Assault", False),
     ("HalfCheetah-v5", False)],
)  # fmt: skip
def test_is_atari(env_id, atari):
    assert atari_data.is_atari(env_id) is atari
