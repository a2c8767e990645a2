"""The DQN family: a loss that needs a distribution the network does not give stops before
anything is allocated (C51's CartPole learning test: tests/test_learning.py)."""

import pytest

from jaxdqn import presets
from jaxdqn.train import make_train


def test_distributional_loss_without_a_distribution_fails_before_allocating():
    """A forked network config cannot smuggle a categorical loss past the config check: the
    agent's first trace (jax.eval_shape at build time, nothing allocated) names the problem."""
    config = presets.cartpole()
    message = "loss='categorical' is invalid: needs the categorical head"
    with pytest.raises(ValueError, match=message):
        type(config.agent)(**{**config.agent.__dict__, "loss": "categorical"})
    from jaxdqn.losses import LOSSES
    from jaxdqn.train import make_parts

    loss = LOSSES["categorical"](config.agent)  # handed in directly, past the config
    with pytest.raises(ValueError, match="needs a network output with logits"):
        make_train(config, loss=loss)
    assert make_parts(config).loss is not None
