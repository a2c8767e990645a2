"""Atari game lists, random/human reference scores and published Atari 100k scores (DrQ(ε), DER).

Game ids are envpool task ids (`Assault-v5`); gymnasium's `ALE/Assault-v5` is accepted wherever
an id is looked up. Every table maps a game id to a number or to `(random, human)`.

Which table for which number:

- Human-normalised scores on Atari 100k, and any aggregate (IQM, mean, median, optimality gap)
  meant to be compared with the Atari 100k / Atari-57 literature, use `HUMAN_RANDOM_57`: the
  57-game random and human scores of DQN Zoo, also those of rliable and of the Atari 100k papers
  (Kaiser et al. 2020 onwards). Assault: random 222.4, human 742.0.
- Numbers set beside the Nature DQN paper (Mnih et al. 2015, 49 games, its own protocol) may use
  `NATURE_2015`, the random and human columns of its Extended Data Table 2. Assault: random
  222.4, human 1496. The two tables disagree on most games' human score (another human tester),
  so a normalised score must always say which table it used.

Sources of the numbers (transcribed facts; each table's comment says more):

- `HUMAN_RANDOM_57`: google-deepmind/dqn_zoo, `dqn_zoo/atari_data.py` (57 games); the same
  numbers, where present, in google/dopamine `dopamine/labs/atari_100k/normalization_utils.py`
  and in the HUMAN.json / RANDOM.json of the rliable data set as shipped by eloialonso/iris
  `results/data/` (26 games).
- `NATURE_2015`: Mnih et al. 2015, "Human-level control through deep reinforcement learning",
  Nature 518, Extended Data Table 2, as transcribed in uber-research/atari-model-zoo
  `atari_zoo/scores.py`; cross-checked against seungjaeryanlee/rldb
  `rldb/db/paper__dqn/algo__{random,human}/entries.py`, which carries one more digit for 31
  values and agrees with every one of them after rounding.
- `DRQ_EPS_100K`: Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of the
  Statistical Precipice" (NeurIPS), DrQ(ε) on Atari 100k, 100 runs per game: the per-run final
  scores of the rliable data set, file `results/data/DrQ(eps).json` of eloialonso/iris (commit
  75e5ab57e8bdeca240f8a0e376dac98c0aa6672a), averaged over the 100 runs per game here and
  rounded to one decimal.
- `DER_100K`: Data-efficient Rainbow (van Hasselt et al. 2019, "When to use parametric models in
  reinforcement learning?", NeurIPS) on Atari 100k, Assault only: 561.5, the mean over 100 runs
  of DER in the rliable data release of Agarwal et al. 2021 (the same data set as DrQ(ε)). The
  DER paper itself reports 431.2 for Assault. No other game's value is cited here.

`PUBLISHED_100K` maps a preset of jaxdqn/presets.py to its agent's name, its table and where the
numbers come from (experiments/atari100k.py compares a run with it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Every Atari game envpool 1.2.5 registers (`<Game>-v5`; ale-py's ROMs), so that whether an id
# is an Atari game — and so its frame skip and budget — is known without importing an env
# library. tests/test_atari_data.py checks the tuple against envpool's registry.
ATARI_GAMES = (
    "Adventure", "AirRaid", "Alien", "Amidar", "Assault", "Asterix", "Asteroids", "Atlantis",
    "Atlantis2", "Backgammon", "BankHeist", "BasicMath", "BattleZone", "BeamRider", "Berzerk",
    "Blackjack", "Bowling", "Boxing", "Breakout", "Carnival", "Casino", "Centipede",
    "ChopperCommand", "CrazyClimber", "Crossbow", "Darkchambers", "Defender", "DemonAttack",
    "DonkeyKong", "DoubleDunk", "Earthworld", "ElevatorAction", "Enduro", "Entombed", "Et",
    "FishingDerby", "FlagCapture", "Freeway", "Frogger", "Frostbite", "Galaxian", "Gopher",
    "Gravitar", "Hangman", "HauntedHouse", "Hero", "HumanCannonball", "IceHockey", "Jamesbond",
    "JourneyEscape", "Kaboom", "Kangaroo", "KeystoneKapers", "KingKong", "Klax", "Koolaid",
    "Krull", "KungFuMaster", "LaserGates", "LostLuggage", "MarioBros", "MiniatureGolf",
    "MontezumaRevenge", "MrDo", "MsPacman", "NameThisGame", "Othello", "Pacman", "Phoenix",
    "Pitfall", "Pitfall2", "Pong", "Pooyan", "PrivateEye", "Qbert", "Riverraid", "RoadRunner",
    "Robotank", "Seaquest", "SirLancelot", "Skiing", "Solaris", "SpaceInvaders", "SpaceWar",
    "StarGunner", "Superman", "Surround", "Tennis", "Tetris", "TicTacToe3d", "TimePilot",
    "Trondead", "Turmoil", "Tutankham", "UpNDown", "Venture", "VideoCheckers", "VideoChess",
    "VideoCube", "VideoPinball", "WizardOfWor", "WordZapper", "YarsRevenge", "Zaxxon",
)  # fmt: skip


def is_atari(env_id: str) -> bool:
    """`Assault-v5` (envpool) or `ALE/Assault-v5` (gymnasium, ale-py) of a game in ATARI_GAMES."""
    name, sep, version = env_id.removeprefix("ALE/").rpartition("-")
    return bool(sep) and version == "v5" and name in ATARI_GAMES


# The 57 games of the Atari-57 benchmark (Badia et al. 2020, Agent57; DQN Zoo), envpool ids.
ATARI_57 = (
    "Alien-v5",
    "Amidar-v5",
    "Assault-v5",
    "Asterix-v5",
    "Asteroids-v5",
    "Atlantis-v5",
    "BankHeist-v5",
    "BattleZone-v5",
    "BeamRider-v5",
    "Berzerk-v5",
    "Bowling-v5",
    "Boxing-v5",
    "Breakout-v5",
    "Centipede-v5",
    "ChopperCommand-v5",
    "CrazyClimber-v5",
    "Defender-v5",
    "DemonAttack-v5",
    "DoubleDunk-v5",
    "Enduro-v5",
    "FishingDerby-v5",
    "Freeway-v5",
    "Frostbite-v5",
    "Gopher-v5",
    "Gravitar-v5",
    "Hero-v5",
    "IceHockey-v5",
    "Jamesbond-v5",
    "Kangaroo-v5",
    "Krull-v5",
    "KungFuMaster-v5",
    "MontezumaRevenge-v5",
    "MsPacman-v5",
    "NameThisGame-v5",
    "Phoenix-v5",
    "Pitfall-v5",
    "Pong-v5",
    "PrivateEye-v5",
    "Qbert-v5",
    "Riverraid-v5",
    "RoadRunner-v5",
    "Robotank-v5",
    "Seaquest-v5",
    "Skiing-v5",
    "Solaris-v5",
    "SpaceInvaders-v5",
    "StarGunner-v5",
    "Surround-v5",
    "Tennis-v5",
    "TimePilot-v5",
    "Tutankham-v5",
    "UpNDown-v5",
    "Venture-v5",
    "VideoPinball-v5",
    "WizardOfWor-v5",
    "YarsRevenge-v5",
    "Zaxxon-v5",
)

# The 26 games of Atari 100k (Kaiser et al. 2020, SimPLe), envpool ids.
ATARI_100K = (
    "Alien-v5",
    "Amidar-v5",
    "Assault-v5",
    "Asterix-v5",
    "BankHeist-v5",
    "BattleZone-v5",
    "Boxing-v5",
    "Breakout-v5",
    "ChopperCommand-v5",
    "CrazyClimber-v5",
    "DemonAttack-v5",
    "Freeway-v5",
    "Frostbite-v5",
    "Gopher-v5",
    "Hero-v5",
    "Jamesbond-v5",
    "Kangaroo-v5",
    "Krull-v5",
    "KungFuMaster-v5",
    "MsPacman-v5",
    "Pong-v5",
    "PrivateEye-v5",
    "Qbert-v5",
    "RoadRunner-v5",
    "Seaquest-v5",
    "UpNDown-v5",
)

# (random, human) for all 57 games: google-deepmind/dqn_zoo, dqn_zoo/atari_data.py (commit
# 45061f4bbbcfa87d11bbba3cfc2305a650a41c26). Random: a uniformly random policy; human: a
# professional game tester; episodes capped at 108,000 frames with 1-30 no-op starts. Checked:
# the rliable HUMAN.json / RANDOM.json (eloialonso/iris results/data/) give the same numbers for
# the 26 Atari 100k games; google/dopamine's dopamine/labs/atari_100k/normalization_utils.py
# gives the same numbers except that it lacks the human score of Defender and Surround and
# lists VideoPinball's random score as 0.0 (DQN Zoo: 16256.9). No game here has human <= random.
HUMAN_RANDOM_57 = {
    "Alien-v5": (227.8, 7127.7),
    "Amidar-v5": (5.8, 1719.5),
    "Assault-v5": (222.4, 742.0),
    "Asterix-v5": (210.0, 8503.3),
    "Asteroids-v5": (719.1, 47388.7),
    "Atlantis-v5": (12850.0, 29028.1),
    "BankHeist-v5": (14.2, 753.1),
    "BattleZone-v5": (2360.0, 37187.5),
    "BeamRider-v5": (363.9, 16926.5),
    "Berzerk-v5": (123.7, 2630.4),
    "Bowling-v5": (23.1, 160.7),
    "Boxing-v5": (0.1, 12.1),
    "Breakout-v5": (1.7, 30.5),
    "Centipede-v5": (2090.9, 12017.0),
    "ChopperCommand-v5": (811.0, 7387.8),
    "CrazyClimber-v5": (10780.5, 35829.4),
    "Defender-v5": (2874.5, 18688.9),
    "DemonAttack-v5": (152.1, 1971.0),
    "DoubleDunk-v5": (-18.6, -16.4),
    "Enduro-v5": (0.0, 860.5),
    "FishingDerby-v5": (-91.7, -38.7),
    "Freeway-v5": (0.0, 29.6),
    "Frostbite-v5": (65.2, 4334.7),
    "Gopher-v5": (257.6, 2412.5),
    "Gravitar-v5": (173.0, 3351.4),
    "Hero-v5": (1027.0, 30826.4),
    "IceHockey-v5": (-11.2, 0.9),
    "Jamesbond-v5": (29.0, 302.8),
    "Kangaroo-v5": (52.0, 3035.0),
    "Krull-v5": (1598.0, 2665.5),
    "KungFuMaster-v5": (258.5, 22736.3),
    "MontezumaRevenge-v5": (0.0, 4753.3),
    "MsPacman-v5": (307.3, 6951.6),
    "NameThisGame-v5": (2292.3, 8049.0),
    "Phoenix-v5": (761.4, 7242.6),
    "Pitfall-v5": (-229.4, 6463.7),
    "Pong-v5": (-20.7, 14.6),
    "PrivateEye-v5": (24.9, 69571.3),
    "Qbert-v5": (163.9, 13455.0),
    "Riverraid-v5": (1338.5, 17118.0),
    "RoadRunner-v5": (11.5, 7845.0),
    "Robotank-v5": (2.2, 11.9),
    "Seaquest-v5": (68.4, 42054.7),
    "Skiing-v5": (-17098.1, -4336.9),
    "Solaris-v5": (1236.3, 12326.7),
    "SpaceInvaders-v5": (148.0, 1668.7),
    "StarGunner-v5": (664.0, 10250.0),
    "Surround-v5": (-10.0, 6.5),
    "Tennis-v5": (-23.8, -8.3),
    "TimePilot-v5": (3568.0, 5229.2),
    "Tutankham-v5": (11.4, 167.6),
    "UpNDown-v5": (533.4, 11693.2),
    "Venture-v5": (0.0, 1187.5),
    "VideoPinball-v5": (16256.9, 17667.9),
    "WizardOfWor-v5": (563.5, 4756.5),
    "YarsRevenge-v5": (3092.9, 54576.9),
    "Zaxxon-v5": (32.5, 9173.3),
}

# (random, human) for the 49 games of Mnih et al. 2015 (Nature), Extended Data Table 2, columns
# "Random Play" and "Human", at the precision the table prints (about four significant figures;
# rldb carries Assault's human score as 1496.4). Transcribed in uber-research/atari-model-zoo,
# atari_zoo/scores.py (commit 18dc816c3fb9ab3f0e91d5108e1c2101a1507c77); checked against
# seungjaeryanlee/rldb (see the module docstring). Not in this table: Berzerk, Defender,
# Phoenix, Pitfall, Skiing, Solaris, Surround, YarsRevenge.
NATURE_2015 = {
    "Alien-v5": (227.8, 6875.0),
    "Amidar-v5": (5.8, 1676.0),
    "Assault-v5": (222.4, 1496.0),
    "Asterix-v5": (210.0, 8503.0),
    "Asteroids-v5": (719.1, 13157.0),
    "Atlantis-v5": (12850.0, 29028.0),
    "BankHeist-v5": (14.2, 734.4),
    "BattleZone-v5": (2360.0, 37800.0),
    "BeamRider-v5": (363.9, 5775.0),
    "Bowling-v5": (23.1, 154.8),
    "Boxing-v5": (0.1, 4.3),
    "Breakout-v5": (1.7, 31.8),
    "Centipede-v5": (2091.0, 11963.0),
    "ChopperCommand-v5": (811.0, 9882.0),
    "CrazyClimber-v5": (10781.0, 35411.0),
    "DemonAttack-v5": (152.1, 3401.0),
    "DoubleDunk-v5": (-18.6, -15.5),
    "Enduro-v5": (0.0, 309.6),
    "FishingDerby-v5": (-91.7, 5.5),
    "Freeway-v5": (0.0, 29.6),
    "Frostbite-v5": (65.2, 4335.0),
    "Gopher-v5": (257.6, 2321.0),
    "Gravitar-v5": (173.0, 2672.0),
    "Hero-v5": (1027.0, 25763.0),
    "IceHockey-v5": (-11.2, 0.9),
    "Jamesbond-v5": (29.0, 406.7),
    "Kangaroo-v5": (52.0, 3035.0),
    "Krull-v5": (1598.0, 2395.0),
    "KungFuMaster-v5": (258.5, 22736.0),
    "MontezumaRevenge-v5": (0.0, 4367.0),
    "MsPacman-v5": (307.3, 15693.0),
    "NameThisGame-v5": (2292.0, 4076.0),
    "Pong-v5": (-20.7, 9.3),
    "PrivateEye-v5": (24.9, 69571.0),
    "Qbert-v5": (163.9, 13455.0),
    "Riverraid-v5": (1339.0, 13513.0),
    "RoadRunner-v5": (11.5, 7845.0),
    "Robotank-v5": (2.2, 11.9),
    "Seaquest-v5": (68.4, 20182.0),
    "SpaceInvaders-v5": (148.0, 1652.0),
    "StarGunner-v5": (664.0, 10250.0),
    "Tennis-v5": (-23.8, -8.9),
    "TimePilot-v5": (3568.0, 5925.0),
    "Tutankham-v5": (11.4, 167.6),
    "UpNDown-v5": (533.4, 9082.0),
    "Venture-v5": (0.0, 1188.0),
    "VideoPinball-v5": (16257.0, 17298.0),
    "WizardOfWor-v5": (563.5, 4757.0),
    "Zaxxon-v5": (32.5, 9173.0),
}

# DrQ(ε) on Atari 100k (Agarwal et al. 2021): mean final score over the 100 runs per game of the
# rliable data set (eloialonso/iris results/data/DrQ(eps).json), rounded to one decimal. Two means
# lie just under a rounding boundary: DemonAttack 1321.549..., Qbert 1810.734....
DRQ_EPS_100K = {
    "Alien-v5": 865.2,
    "Amidar-v5": 137.8,
    "Assault-v5": 579.6,
    "Asterix-v5": 763.6,
    "BankHeist-v5": 232.9,
    "BattleZone-v5": 10165.3,
    "Boxing-v5": 9.0,
    "Breakout-v5": 19.8,
    "ChopperCommand-v5": 844.6,
    "CrazyClimber-v5": 21539.0,
    "DemonAttack-v5": 1321.5,
    "Freeway-v5": 20.3,
    "Frostbite-v5": 1014.2,
    "Gopher-v5": 621.6,
    "Hero-v5": 4167.9,
    "Jamesbond-v5": 349.1,
    "Kangaroo-v5": 1088.4,
    "Krull-v5": 4402.1,
    "KungFuMaster-v5": 11467.4,
    "MsPacman-v5": 1218.1,
    "Pong-v5": -9.1,
    "PrivateEye-v5": 3.5,
    "Qbert-v5": 1810.7,
    "RoadRunner-v5": 11211.4,
    "Seaquest-v5": 352.3,
    "UpNDown-v5": 4324.5,
}

# Data-efficient Rainbow (DER; van Hasselt et al. 2019) on Atari 100k: only the games whose value is
# cited. Assault: 561.5, mean final score over the 100 runs of DER in the rliable data release of
# Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical Precipice"); the original DER paper
# (van Hasselt et al. 2019) reports 431.2 for Assault. The rliable mean is the one used here.
DER_100K = {
    "Assault-v5": 561.5,
}


class Published(NamedTuple):
    """An agent's published Atari 100k scores: its name in tables and legends, game id → mean
    final score (only the games with a cited value), and the source in one sentence."""

    agent: str
    scores: dict[str, float]
    source: str


# Preset name (jaxdqn/presets.py) → the published Atari 100k scores of the agent it reproduces.
PUBLISHED_100K = {
    "drq_eps": Published(
        "DrQ(ε)", DRQ_EPS_100K, "mean of 100 runs per game (Agarwal et al. 2021, rliable data)"
    ),
    "der": Published(
        "DER",
        DER_100K,
        "mean of 100 runs (Agarwal et al. 2021, rliable data; van Hasselt et al. 2019 report "
        "431.2 for Assault), given here for Assault only",
    ),
}

# Reference tables by name: "atari100k" (the 57-game table of the Atari 100k / Atari-57
# literature) and "nature" (Mnih et al. 2015).
TABLES = {"atari100k": HUMAN_RANDOM_57, "nature": NATURE_2015}


def game_id(env_id: str) -> str:
    """The envpool id of a game: gymnasium's `ALE/Assault-v5` is `Assault-v5`."""
    return env_id.removeprefix("ALE/")


def reference(env_id: str, table: str = "atari100k") -> tuple[float, float] | None:
    """`(random, human)` of a game in a reference table, or None if the table lacks the game.

    `table="atari100k"` (`HUMAN_RANDOM_57`, all 57 games) is the one for Atari 100k results and
    human-normalised aggregates; `table="nature"` (`NATURE_2015`, 49 games) only for numbers set
    beside Mnih et al. 2015.
    """
    if table not in TABLES:
        raise ValueError(f"unknown reference table {table!r}; one of {sorted(TABLES)}")
    return TABLES[table].get(game_id(env_id))


def human_normalized(env_id: str, score, table: str = "atari100k"):
    """(score - random) / (human - random) as float64 (array-like scores give an array), or None
    for a game the table lacks.

    The default table, `HUMAN_RANDOM_57`, is the one behind Atari 100k per-game normalised scores
    and every human-normalised aggregate (IQM, mean, median) compared with the literature;
    `table="nature"` normalises with Mnih et al. 2015's random and human scores instead.
    """
    ref = reference(env_id, table)
    if ref is None:
        return None
    random, human = ref
    return (np.asarray(score, np.float64) - random) / (human - random)
