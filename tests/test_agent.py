"""The agent: a network or batch of the wrong shape fails at trace time; one forward pass at s_t
(target_is_online) equals a target network synced every update; augmentation is the learner's
alone."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdqn.agent import hard_target_update, make_agent
from jaxdqn.augmentations import AUGMENTATIONS
from jaxdqn.config import AgentConfig
from jaxdqn.losses import LOSSES
from jaxdqn.networks import MLPQNetwork
from jaxdqn.policies import epsilon_greedy
from jaxdqn.replay import Transition

NUM_ACTIONS, BATCH = 2, 8


def build(network_actions: int):
    agent = make_agent(
        network=MLPQNetwork(network_actions, hidden=(8,)),
        optimizer=optax.adam(1e-3),
        loss=LOSSES["q"](AgentConfig()),
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


@pytest.mark.slow
@pytest.mark.parametrize("jit", [False, True])
def test_act_and_update_accept_the_right_shapes(jit):
    agent, state, obs = build(NUM_ACTIONS)
    act, update = (jax.jit(agent.act), jax.jit(agent.update)) if jit else (agent.act, agent.update)
    _, actions, _ = act(state, obs)
    assert actions.shape == (3,) and actions.dtype == jnp.int32
    _, metrics, priorities = update(state, batch(BATCH))
    assert priorities.shape == (BATCH,)
    assert metrics["loss"].shape == ()


@pytest.mark.slow
def test_wrong_number_of_q_values_or_batch_size_fails():
    agent, state, obs = build(NUM_ACTIONS + 1)  # the network disagrees with the env
    with pytest.raises(AssertionError, match="shape"):
        agent.act(state, obs)
    with pytest.raises(AssertionError, match="shape"):
        agent.update(state, batch(BATCH))
    agent, state, _ = build(NUM_ACTIONS)
    with pytest.raises(AssertionError, match="shape"):
        jax.jit(agent.update)(state, batch(BATCH + 1))


# ---------------------------------------------------------------------------------------------
# target_is_online: one forward pass at s_t when the target is synced after every update


def random_batch(seed: int, size: int = BATCH, obs_dim: int = 4) -> Transition:
    rng = np.random.default_rng(seed)
    return Transition(
        s_tm1=jnp.asarray(rng.normal(size=(size, obs_dim)), jnp.float32),
        a_tm1=jnp.asarray(rng.integers(0, NUM_ACTIONS, size), jnp.int32),
        r_t=jnp.asarray(rng.normal(size=size), jnp.float32),
        discount_t=jnp.asarray(rng.choice([0.0, 0.99], size), jnp.float32),
        s_t=jnp.asarray(rng.normal(size=(size, obs_dim)), jnp.float32),
    )


def build_with(td_error="q", augment=None, target_is_online=False, network=None):
    """An agent whose target network is synced after every update (as DrQ(ε))."""
    return make_agent(
        network=network or MLPQNetwork(NUM_ACTIONS, hidden=(16,)),
        optimizer=optax.adam(1e-2),
        loss=LOSSES[td_error](AgentConfig()),
        policy=epsilon_greedy,
        policy_schedule=lambda *args: jnp.float32(0.5),
        target_update=hard_target_update(1),
        sample=None,
        batch_size=BATCH,
        num_actions=NUM_ACTIONS,
        augment=augment,
        target_is_online=target_is_online,
    )


def assert_trees_close(a, b, rtol=1e-6, atol=1e-7):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=atol), a, b)


@pytest.mark.slow
@pytest.mark.parametrize("td_error", ["q", "double_q"])
def test_target_is_online_matches_a_synced_target_network(td_error):
    """Hard sync every update: three updates with target_is_online give the params, target
    params, optimiser state and losses of the two-network agent."""
    two_nets = build_with(td_error, target_is_online=False)
    one_net = build_with(td_error, target_is_online=True)
    state = two_nets.init(jax.random.PRNGKey(0), jnp.zeros((3, 4)))
    chex.assert_trees_all_equal(state.params, state.target_params)  # init copies
    a = b = state
    for seed in range(3):
        a, metrics_a, _ = jax.jit(two_nets.update)(a, random_batch(seed))
        b, metrics_b, _ = jax.jit(one_net.update)(b, random_batch(seed))
        assert_trees_close(metrics_a, metrics_b)
        assert_trees_close(a.params, b.params)
        assert_trees_close(a.target_params, b.target_params)
        assert_trees_close(a.opt_state, b.opt_state)
        chex.assert_trees_all_equal(a.params, a.target_params)  # synced after every update
    assert float(metrics_a["loss"]) > 0
    # The updates did something (the comparison is not between two untouched states).
    kernel = lambda s: s.params["params"]["Dense_0"]["kernel"]
    assert not np.allclose(kernel(a), kernel(state))


@pytest.mark.slow
@pytest.mark.parametrize("td_error", ["q", "double_q"])
def test_target_is_online_ignores_the_target_params(td_error):
    """Guard for the test above: with target params that differ from the online params (which
    target_is_online assumes never happens), the two agents give different losses, so the
    comparison above is not blind to which network evaluates s_t."""
    two_nets = build_with(td_error, target_is_online=False)
    one_net = build_with(td_error, target_is_online=True)
    state = two_nets.init(jax.random.PRNGKey(0), jnp.zeros((3, 4)))
    state = state.replace(target_params=jax.tree.map(lambda x: x + 0.5, state.target_params))
    batch = random_batch(0)
    _, metrics_a, _ = two_nets.update(state, batch)
    _, metrics_b, _ = one_net.update(state, batch)
    assert abs(float(metrics_a["loss"]) - float(metrics_b["loss"])) > 1e-3
    # target_is_online: the target params play no part at all.
    other = state.replace(target_params=jax.tree.map(jnp.zeros_like, state.target_params))
    _, metrics_c, _ = one_net.update(other, batch)
    assert float(metrics_c["loss"]) == float(metrics_b["loss"])


# ---------------------------------------------------------------------------------------------
# augmentation: the learner's replayed observations only


def noise_augment(key, obs):
    """An obvious, key-dependent augmentation: adds U(0, 1) noise."""
    return obs + jax.random.uniform(key, obs.shape)


@pytest.mark.slow
def test_augment_is_not_used_when_acting():
    calls = []
    recording = lambda key, obs: calls.append((key, obs)) or noise_augment(key, obs)
    plain, augmented = build_with(augment=None), build_with(augment=recording)
    obs = jnp.asarray(np.random.default_rng(1).normal(size=(3, 4)), jnp.float32)
    state = plain.init(jax.random.PRNGKey(2), obs)
    for method in ("act", "act_randomly"):
        out_plain = getattr(plain, method)(state, obs)
        out_augmented = getattr(augmented, method)(state, obs)
        chex.assert_trees_all_equal(out_plain, out_augmented)  # state (key, steps), actions, ε
    chex.assert_trees_all_equal(
        augmented.q_values(state.params, obs, state.key),
        plain.q_values(state.params, obs, state.key),
    )
    assert calls == []


@pytest.mark.slow
def test_augment_applies_to_s_tm1_and_s_t_with_independent_keys():
    """update(state, batch) with augment f is update without augmentation on the batch
    (f(k1, s_tm1), f(k2, s_t)) where key, k1, k2 = split(state.key, 3); the state leaves with
    `key`. Without augment the update leaves the key alone."""
    calls = []
    recording = lambda key, obs: calls.append(np.asarray(key)) or noise_augment(key, obs)
    plain, augmented = build_with(augment=None), build_with(augment=recording)
    state = plain.init(jax.random.PRNGKey(3), jnp.zeros((3, 4)))
    batch = random_batch(4)

    new_state, metrics, _ = augmented.update(state, batch)
    key, k1, k2 = jax.random.split(state.key, 3)
    assert len(calls) == 2
    np.testing.assert_array_equal(calls[0], k1)  # s_tm1
    np.testing.assert_array_equal(calls[1], k2)  # s_t
    assert not np.array_equal(k1, k2)
    np.testing.assert_array_equal(new_state.key, key)

    by_hand = batch._replace(s_tm1=noise_augment(k1, batch.s_tm1), s_t=noise_augment(k2, batch.s_t))
    ref_state, ref_metrics, _ = plain.update(state, by_hand)
    assert_trees_close(metrics, ref_metrics)
    assert_trees_close(new_state.params, ref_state.params)

    # The augmentation changed the update, and the plain agent's update keeps its key.
    plain_state, plain_metrics, _ = plain.update(state, batch)
    assert abs(float(plain_metrics["loss"]) - float(metrics["loss"])) > 1e-4
    np.testing.assert_array_equal(plain_state.key, state.key)


class TinyImageQNetwork(nn.Module):
    """Frames `[..., 4, 12, 12]` (uint8 or float pixel units) → Q; small, so tests stay fast."""

    num_actions: int

    @nn.compact
    def __call__(self, obs):
        x = obs.astype(jnp.float32) / 255.0
        x = x.reshape(x.shape[:-3] + (-1,))
        return nn.Dense(self.num_actions)(nn.relu(nn.Dense(16)(x)))


def image_batch(seed: int) -> Transition:
    rng = np.random.default_rng(seed)
    frames = lambda: jnp.asarray(rng.integers(0, 256, (BATCH, 4, 12, 12)), jnp.uint8)
    return Transition(
        s_tm1=frames(),
        a_tm1=jnp.asarray(rng.integers(0, NUM_ACTIONS, BATCH), jnp.int32),
        r_t=jnp.asarray(rng.normal(size=BATCH), jnp.float32),
        discount_t=jnp.full((BATCH,), 0.99, jnp.float32),
        s_t=frames(),
    )


def seed_slice(tree, seed: int):
    return jax.tree.map(lambda x: x[seed], tree)


@pytest.mark.slow
def test_drq_update_under_jit_and_vmap_over_seeds():
    """AUGMENTATIONS["drq"] on uint8 frames: jit of one seed's update equals the eager update,
    and vmap over 2 seeds equals a loop over them; the seeds' keys give different
    augmentations, hence different losses on the same batch."""
    agent = build_with(augment=AUGMENTATIONS["drq"], target_is_online=True,
                       network=TinyImageQNetwork(NUM_ACTIONS))  # fmt: skip
    plain = build_with(network=TinyImageQNetwork(NUM_ACTIONS))
    batch = image_batch(5)
    keys = jax.random.split(jax.random.PRNGKey(6), 2)
    states = jax.vmap(agent.init, in_axes=(0, None, 0))(keys, batch.s_tm1[:1], jnp.arange(2))

    vmapped_state, vmapped, _ = jax.jit(jax.vmap(agent.update, in_axes=(0, None)))(states, batch)
    for seed in range(2):
        state = seed_slice(states, seed)
        eager_state, eager, _ = agent.update(state, batch)
        jit_state, jitted, _ = jax.jit(agent.update)(state, batch)
        assert_trees_close(jitted, eager, rtol=1e-5, atol=1e-6)
        assert_trees_close(jit_state.params, eager_state.params, rtol=1e-5, atol=1e-6)
        assert_trees_close(seed_slice(vmapped, seed), eager, rtol=1e-5, atol=1e-6)
        vmapped_seed = seed_slice(vmapped_state, seed)
        assert_trees_close(vmapped_seed.params, eager_state.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(vmapped_seed.key, jax.random.split(state.key, 3)[0])
        assert np.isfinite(float(eager["loss"]))
        # drq changed what the learner saw.
        _, unaugmented, _ = plain.update(state, batch)
        assert abs(float(unaugmented["loss"]) - float(eager["loss"])) > 1e-6
    assert float(vmapped["loss"][0]) != float(vmapped["loss"][1])
