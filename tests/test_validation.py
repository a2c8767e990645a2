"""The order of validation: the env id first, then each component name, then their pairings.

Each mistake gets its own message, naming the field, the value and close matches, whatever
else is set: a mistyped env id is not blamed on the network that cannot take it.
"""

import dataclasses
import re

import pytest

from jaxdqn.config import AgentConfig, Config, EnvConfig
from jaxdqn.presets import cartpole, nature
from jaxdqn.runtime import resolve


def with_agent(config: Config, **agent) -> Config:
    return dataclasses.replace(config, agent=dataclasses.replace(config.agent, **agent))


def with_env(config: Config, **env) -> Config:
    return dataclasses.replace(config, env=dataclasses.replace(config.env, **env))


def message(config: Config) -> str:
    with pytest.raises(ValueError) as info:
        resolve(config)
    return str(info.value)


def close_matches(text: str) -> str:
    return text.split("Close matches:")[-1] if "Close matches:" in text else ""


@pytest.mark.parametrize("env_id", ["CartPol-v1", "NoSuchGame-v5"])
def test_an_unknown_env_id_is_reported_before_the_network(env_id):
    # The Atari network would not fit CartPole, but the id is what is wrong.
    text = message(with_env(nature(), env_id=env_id))
    assert text.startswith(f"env_id={env_id!r} is invalid: not an envpool task")
    assert "network" not in text


def test_an_unknown_env_id_offers_close_matches_whatever_else_is_set():
    config = with_agent(with_env(nature(), env_id="CartPol-v1"), network="natur", loss="dbl")
    text = message(config)
    assert text.startswith("env_id='CartPol-v1'") and "CartPole-v1" in close_matches(text)
    assert "Assault-v5" in close_matches(message(with_env(nature(), env_id="Asault-v5")))


@pytest.mark.parametrize(
    "field, typo, meant",
    [("network", "natrue", "nature"), ("loss", "doubel_q", "double_q"),
     ("policy", "boltzman", "boltzmann"), ("augmentation", "drg", "drq"),
     ("target_update", "polyac", "polyak")],
)  # fmt: skip
def test_a_mistyped_name_gets_its_own_message_with_close_matches(field, typo, meant):
    for base in (nature(), cartpole()):  # whatever the env, and before any pairing check
        text = message(with_agent(base, **{field: typo}))
        assert text.startswith(f"{field}={typo!r} is invalid: one of ")
        assert meant in close_matches(text), text


def test_names_are_checked_before_their_pairings():
    # An image network on CartPole and a categorical loss without its head: the mistyped
    # policy is named first, then the network, then the loss.
    config = with_agent(cartpole(), network="nature", loss="categorical", policy="epsilom")
    assert message(config).startswith("policy='epsilom'")
    config = with_agent(config, policy="epsilon")
    assert re.match(r"loss='categorical' is invalid: needs the categorical head", message(config))
    config = with_agent(config, loss="q")
    assert message(config).startswith("network='nature' is invalid: needs image observations")


def test_a_valid_config_resolves():
    resolve(Config(env=EnvConfig(env_id="CartPole-v1"), agent=AgentConfig(network="mlp")))
