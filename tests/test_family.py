"""The DQN family: a loss that needs a distribution the network does not give stops before
anything is allocated (C51's CartPole learning test: tests/test_learning.py)."""

import dataclasses

import pytest

from jaxdqn import presets
from jaxdqn.plan import make_plan
from jaxdqn.registry import check_pairings
from jaxdqn.train import make_train


def test_distributional_loss_without_a_distribution_fails_before_allocating():
    """A forked network config cannot smuggle a categorical loss past the config check: the
    agent's first trace (jax.eval_shape at build time, nothing allocated) names the problem."""
    config = presets.cartpole()
    message = "loss='categorical' is invalid: needs the categorical head"
    with pytest.raises(ValueError, match=message):
        check_pairings(dataclasses.replace(config, agent=dataclasses.replace(
            config.agent, loss="categorical")))  # fmt: skip
    from jaxdqn.losses import LOSSES
    from jaxdqn.train import make_parts

    loss = LOSSES["categorical"](config.agent)  # handed in directly, past the config
    with pytest.raises(ValueError, match="needs a network output with logits"):
        make_train(make_plan(config), loss=loss)
    assert make_parts(config).loss is not None
