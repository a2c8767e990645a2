"""The agent's shape checks: a network or batch of the wrong shape fails at trace time."""

import jax
import jax.numpy as jnp
import optax
import pytest

from jaxdqn.agent import hard_target_update, make_agent
from jaxdqn.losses import TD_ERRORS
from jaxdqn.networks import MLPQNetwork
from jaxdqn.policies import epsilon_greedy
from jaxdqn.replay import Transition

NUM_ACTIONS, BATCH = 2, 8


def build(network_actions: int):
    agent = make_agent(
        network=MLPQNetwork(network_actions, hidden=(8,)),
        optimizer=optax.adam(1e-3),
        td_error=TD_ERRORS["q"],
        policy=epsilon_greedy,
        policy_schedule=lambda *args: jnp.float32(0.1),  # ε, whatever the schedule's inputs
        target_update=hard_target_update(10),
        sample=None,  # batches are handed to `update` directly
        batch_size=BATCH,
        num_actions=NUM_ACTIONS,
    )
    obs = jnp.zeros((3, 4), jnp.float32)  # [E, obs]
    return agent, agent.init(jax.random.PRNGKey(0), obs), obs


def batch(size: int) -> Transition:
    return Transition(
        s_tm1=jnp.zeros((size, 4)),
        a_tm1=jnp.zeros((size,), jnp.int32),
        r_t=jnp.zeros((size,)),
        discount_t=jnp.ones((size,)),
        s_t=jnp.zeros((size, 4)),
    )


@pytest.mark.parametrize("jit", [False, True])
def test_act_and_update_accept_the_right_shapes(jit):
    agent, state, obs = build(NUM_ACTIONS)
    act, update = (jax.jit(agent.act), jax.jit(agent.update)) if jit else (agent.act, agent.update)
    _, actions, _ = act(state, obs)
    assert actions.shape == (3,) and actions.dtype == jnp.int32
    _, metrics = update(state, batch(BATCH))
    assert metrics["loss"].shape == ()


def test_wrong_number_of_q_values_or_batch_size_fails():
    agent, state, obs = build(NUM_ACTIONS + 1)  # the network disagrees with the env
    with pytest.raises(AssertionError, match="shape"):
        agent.act(state, obs)
    with pytest.raises(AssertionError, match="shape"):
        agent.update(state, batch(BATCH))
    agent, state, _ = build(NUM_ACTIONS)
    with pytest.raises(AssertionError, match="shape"):
        jax.jit(agent.update)(state, batch(BATCH + 1))
