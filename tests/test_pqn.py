"""PQN's pure pieces: Q(λ) targets, minibatches, the update, acting, LayerNorm networks."""

import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import rlax

from jaxdqn import pqn
from jaxdqn.networks import NETWORKS, MinAtarQNetwork, MLPQNetwork, NatureQNetwork
from jaxdqn.policies import POLICIES, linear_schedule

GAMMA, LAMBDA = 0.5, 0.5
R = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
# Q-values at the observation after each step; their maxima are 10, 20, 30, 40.
Q_T = np.array([[10.0, -1.0], [0.0, 20.0], [30.0, 30.0], [-5.0, 40.0]], np.float32)


def purejaxql_targets(r, terminal, v_next, gamma, lam):
    """The backward loop of purejaxql's pqn_minatar.py `_get_target`, in plain Python:
    G_{T-1} = r + γ(1-d) v; G_t = r_t + γ(1-d_t) v_t + γλ(G_{t+1} - v_t); a terminal step's
    target is its reward."""
    T = len(r)
    out = np.zeros(T)
    out[-1] = r[-1] + gamma * (1 - terminal[-1]) * v_next[-1]
    for t in reversed(range(T - 1)):
        g = r[t] + gamma * (1 - terminal[t]) * v_next[t] + gamma * lam * (out[t + 1] - v_next[t])
        out[t] = r[t] if terminal[t] else g
    return out


def test_targets_hand_worked_terminal_cuts_the_return():
    # Step 1 ends the episode (terminal): G_3 = 4 + 0.5·40 = 24; G_2 = 3 + 0.5(0.5·30 +
    # 0.5·24) = 16.5; G_1 = r_1 = 2; G_0 = 1 + 0.5(0.5·10 + 0.5·2) = 4.
    done = np.array([False, True, False, False])
    discount = np.where(done, 0.0, GAMMA).astype(np.float32)
    out = pqn.q_lambda_targets(R, discount, Q_T, done, LAMBDA)
    np.testing.assert_allclose(out, [4.0, 2.0, 16.5, 24.0], rtol=1e-6)
    v_next = Q_T.max(-1)
    np.testing.assert_allclose(out, purejaxql_targets(R, done, v_next, GAMMA, LAMBDA), rtol=1e-6)


def test_targets_hand_worked_truncation_bootstraps_without_lambda():
    # Step 1 is truncated: γ_1 stays 0.5 but λ is cut: G_1 = 2 + 0.5·20 = 12 (not through
    # step 2, the next episode); G_0 = 1 + 0.5(0.5·10 + 0.5·12) = 6.5.
    done = np.array([False, True, False, False])
    discount = np.full(4, GAMMA, np.float32)
    out = pqn.q_lambda_targets(R, discount, Q_T, done, LAMBDA)
    np.testing.assert_allclose(out, [6.5, 12.0, 16.5, 24.0], rtol=1e-6)


def test_targets_lambda_zero_are_one_step_q_learning():
    done = np.zeros(4, bool)
    discount = np.full(4, GAMMA, np.float32)
    out = pqn.q_lambda_targets(R, discount, Q_T, done, 0.0)
    np.testing.assert_allclose(out, R + GAMMA * Q_T.max(-1), rtol=1e-6)


def random_rollout(seed, T=6, E=5, A=3, obs_dim=2, terminal_rate=0.2):
    rng = np.random.default_rng(seed)
    terminal = rng.random((T, E)) < terminal_rate
    first = np.concatenate([rng.random((1, E)) < 0.3, terminal[:-1]], axis=0)
    rollout = pqn.Rollout(
        s_tm1=rng.normal(size=(T, E, obs_dim)).astype(np.float32),
        a_tm1=rng.integers(0, A, (T, E)).astype(np.int32),
        r_t=rng.normal(size=(T, E)).astype(np.float32),
        discount_t=np.where(terminal, 0.0, 0.99).astype(np.float32),
        s_t=rng.normal(size=(T, E, obs_dim)).astype(np.float32),
        done=terminal,
        first=first,
    )
    q_t = rng.normal(size=(T, E, A)).astype(np.float32)
    return rollout, q_t


@pytest.mark.parametrize("lambda_", [0.0, 0.65, 1.0])
@pytest.mark.parametrize("jit", [False, True])
def test_rollout_targets_against_purejaxql_loop_and_rlax(lambda_, jit):
    rollout, q_t = random_rollout(0)
    fn = jax.jit(pqn.rollout_targets, static_argnums=2) if jit else pqn.rollout_targets
    out = np.asarray(fn(rollout, q_t, lambda_))
    assert out.shape == (6, 5)
    for e in range(5):
        done, v_next = rollout.done[:, e], q_t[:, e].max(-1)
        expected = purejaxql_targets(rollout.r_t[:, e], done, v_next, 0.99, lambda_)
        np.testing.assert_allclose(out[:, e], expected, rtol=1e-5, atol=1e-5)
        lam = np.where(done, 0.0, lambda_).astype(np.float32)
        ref = rlax.lambda_returns(rollout.r_t[:, e], rollout.discount_t[:, e], v_next, lam)
        np.testing.assert_allclose(out[:, e], ref, rtol=1e-6, atol=1e-6)


def test_flatten_is_time_major_and_masks_first_steps():
    rollout, _ = random_rollout(1, T=3, E=2)
    targets = np.arange(6, dtype=np.float32).reshape(3, 2)
    batch = pqn.flatten(rollout, targets)
    assert batch.s_tm1.shape == (6, 2)
    np.testing.assert_array_equal(batch.target, np.arange(6))  # time-major: t·E + e
    np.testing.assert_array_equal(batch.a_tm1, rollout.a_tm1.reshape(-1))
    np.testing.assert_array_equal(batch.weight, 1.0 - rollout.first.reshape(-1))


# ----------------------------------------------------------------------------- minibatches


def test_minibatches_cover_every_transition_once_per_epoch():
    indices = np.asarray(pqn.epoch_indices(jax.random.PRNGKey(0), 3, 48, 4))
    assert indices.shape == (3, 4, 12)
    for epoch in indices:
        np.testing.assert_array_equal(np.sort(epoch.reshape(-1)), np.arange(48))
    # A key and a permutation per epoch: the epochs are shuffled differently.
    assert not np.array_equal(indices[0], indices[1])
    assert not np.array_equal(indices[1], indices[2])


def test_minibatches_of_a_flattened_rollout_cover_it():
    rollout, q_t = random_rollout(2, T=4, E=6)
    batch = pqn.flatten(rollout, pqn.rollout_targets(rollout, q_t, 0.65))
    indices = pqn.epoch_indices(jax.random.PRNGKey(1), 2, 24, 3)
    for epoch in indices:
        minibatches = pqn.take(batch, epoch)  # leaves [3, 8, ...]
        assert minibatches.s_tm1.shape == (3, 8, 2)
        order = np.argsort(np.asarray(epoch).reshape(-1))
        np.testing.assert_array_equal(minibatches.target.reshape(-1)[order], batch.target)


def test_minibatches_must_divide_the_rollout():
    with pytest.raises(ValueError, match="num_minibatches=5"):
        pqn.minibatch_indices(jax.random.PRNGKey(0), 24, 5)


# ----------------------------------------------------------------------------- learner


def mlp(num_actions=3, layer_norm=True):
    config = types.SimpleNamespace(hidden=(16, 16), layer_norm=layer_norm)
    return NETWORKS["mlp"](num_actions, config)


def decaying(steps, start):
    return linear_schedule(start, 0.05, steps, 100)


def given_rollout(replay_state, num_steps):
    """A stand-in for the replay's `read_recent`: the "replay state" is the rollout itself."""
    del num_steps
    return replay_state


def make_learner(policy="epsilon", num_epochs=2, num_minibatches=3, schedule=decaying, T=4):
    """PQN with an MLP; its `learn` takes `(transitions, first)` in place of a replay."""
    optimizer = optax.chain(optax.clip_by_global_norm(10.0), optax.adam(1e-2))
    agent = pqn.make_pqn(mlp(), optimizer, POLICIES[policy].sample, schedule, given_rollout, 3,
                         num_steps=T, lambda_=0.65, num_epochs=num_epochs,
                         num_minibatches=num_minibatches)  # fmt: skip
    parts = agent.learn.args[0]
    return types.SimpleNamespace(agent=agent, parts=parts, init=agent.init, act=agent.act,
                                 update=functools.partial(pqn.update, parts),
                                 learn_rollout=functools.partial(pqn.learn_rollout, parts),
                                 targets=functools.partial(pqn.targets, parts))  # fmt: skip


def fixed_batch(seed=0, B=64, A=3):
    rng = np.random.default_rng(seed)
    return pqn.Batch(
        s_tm1=rng.normal(size=(B, 2)).astype(np.float32),
        a_tm1=rng.integers(0, A, B).astype(np.int32),
        target=rng.normal(size=B).astype(np.float32),
        weight=np.ones(B, np.float32),
    )


def test_update_lowers_the_loss_on_a_fixed_batch():
    learner = make_learner()
    state = learner.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    batch = fixed_batch()
    update = jax.jit(learner.update)
    losses = []
    for _ in range(30):
        state, metrics = update(state, batch)
        losses.append(float(metrics["loss"]))
    assert int(state.updates) == 30
    assert losses[-1] < 0.5 * losses[0]


def test_masked_transitions_do_not_move_the_params():
    network, params_key = mlp(), jax.random.PRNGKey(1)
    params = network.init(params_key, jnp.zeros((1, 2)))
    batch = fixed_batch(1)
    weight = np.where(np.arange(64) % 2 == 0, 1.0, 0.0).astype(np.float32)
    masked = batch._replace(weight=weight)
    other = masked._replace(target=np.where(weight > 0, batch.target, 1e3).astype(np.float32))
    grad = jax.grad(lambda p, b: pqn.td_loss(network, p, b, params_key)[0])
    jax.tree_util.tree_map(np.testing.assert_allclose, grad(params, masked), grad(params, other))


def test_learn_runs_every_epoch_and_minibatch():
    learner = make_learner(num_epochs=2, num_minibatches=3)
    rollout, _ = random_rollout(3, T=4, E=6)
    state = learner.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    learn = jax.jit(learner.learn_rollout)
    new_state, metrics = learn(state, rollout)
    assert int(new_state.updates) == 6  # 2 epochs × 3 minibatches
    assert np.isfinite(float(metrics["loss"])) and np.isfinite(float(metrics["mean_q"]))
    changed = jax.tree_util.tree_map(lambda a, b: not np.allclose(a, b), state.params,
                                     new_state.params)  # fmt: skip
    assert any(jax.tree_util.tree_leaves(changed))
    again, _ = learn(state, rollout)  # same state and key: the same result
    jax.tree_util.tree_map(np.testing.assert_array_equal, again.params, new_state.params)


def test_targets_bootstrap_on_the_next_observations():
    learner = make_learner()
    state = learner.init(jax.random.PRNGKey(2), jnp.zeros((1, 2)))
    rollout, _ = random_rollout(4, T=3, E=2)
    q_t = mlp().apply(state.params, rollout.s_t).q_values
    expected = pqn.rollout_targets(rollout, q_t, 0.65)
    np.testing.assert_allclose(learner.targets(state, rollout), expected, rtol=1e-6)


def test_agent_learn_reads_the_rollout_from_the_replay_state():
    learner = make_learner()
    state = learner.init(jax.random.PRNGKey(2), jnp.zeros((1, 2)))
    rollout, _ = random_rollout(5, T=4, E=6)
    transitions = types.SimpleNamespace(s_tm1=rollout.s_tm1, a_tm1=rollout.a_tm1,
                                        r_t=rollout.r_t, discount_t=rollout.discount_t,
                                        s_t=rollout.s_t)  # fmt: skip
    new_state, same, metrics = learner.agent.learn(state, (transitions, rollout.first))
    assert same[1] is rollout.first  # the replay is read, never changed
    expected, _ = learner.learn_rollout(state, pqn.from_replay(transitions, rollout.first))
    jax.tree_util.tree_map(np.testing.assert_array_equal, new_state.params, expected.params)


def test_from_replay_cuts_lambda_before_a_first_step():
    first = np.array([[True, False], [False, False], [False, True], [True, False]])
    t = types.SimpleNamespace(s_tm1=0, a_tm1=0, r_t=0, discount_t=0, s_t=0)
    rollout = pqn.from_replay(t, jnp.asarray(first))
    # Step k is done when step k+1 follows a reset; the last step's successor is unknown.
    np.testing.assert_array_equal(rollout.done, [[False, False], [False, True], [True, False],
                                                 [False, False]])  # fmt: skip
    np.testing.assert_array_equal(rollout.first, first)


@pytest.mark.parametrize("policy", ["epsilon", "boltzmann"])
def test_act_follows_the_policy(policy):
    learner = make_learner(policy, schedule=lambda steps, start: start)  # the seed's start
    obs = jnp.asarray(np.random.default_rng(5).normal(size=(7, 2)), jnp.float32)
    state = learner.init(jax.random.PRNGKey(3), obs, policy_start=1.0)
    new_state, actions, parameter = jax.jit(learner.act)(state, obs)
    assert actions.shape == (7,) and actions.dtype == jnp.int32
    assert ((0 <= actions) & (actions < 3)).all()
    assert int(new_state.steps) == 7 and float(parameter) == 1.0
    # With ε = 0 (or τ → 0) acting is greedy on the network's Q-values.
    greedy = jnp.argmax(mlp().apply(state.params, obs).q_values, axis=-1)
    state = state.replace(policy_start=jnp.float32(0.0 if policy == "epsilon" else 1e-6))
    _, actions, _ = learner.act(state, obs)
    np.testing.assert_array_equal(actions, greedy)


@pytest.mark.parametrize(
    "kwargs",
    [dict(lambda_=1.5), dict(num_epochs=0), dict(num_minibatches=2.0), dict(num_steps=0)],
)
def test_make_pqn_validates(kwargs):
    settings = dict(lambda_=0.65, num_epochs=2, num_minibatches=4, num_steps=4) | kwargs
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        pqn.make_pqn(mlp(), optax.sgd(0.1), POLICIES["epsilon"].sample, lambda s, x: x,
                     given_rollout, 3, **settings)  # fmt: skip


# ----------------------------------------------------------------------------- LayerNorm


def layer_norm_params(params):
    return [path for path, _ in jax.tree_util.tree_flatten_with_path(params)[0]
            if "LayerNorm" in jax.tree_util.keystr(path)]  # fmt: skip


def test_layer_norm_off_by_default_leaves_networks_unchanged():
    obs = jnp.asarray(np.random.default_rng(6).normal(size=(3, 5)), jnp.float32)
    plain = MLPQNetwork(4, (8, 8))
    params = plain.init(jax.random.PRNGKey(0), obs)
    assert not layer_norm_params(params)
    assert mlp(layer_norm=False) == MLPQNetwork(3, (16, 16))
    assert NETWORKS["mlp"](4, types.SimpleNamespace(hidden=(8, 8))) == plain


def test_mlp_layer_norm_against_numpy():
    obs = np.random.default_rng(7).normal(size=(3, 5)).astype(np.float32)
    net = MLPQNetwork(4, (8, 6), layer_norm=True)
    params = net.init(jax.random.PRNGKey(0), obs)
    assert len(layer_norm_params(params)) == 4  # scale and bias of two LayerNorms
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params["params"])

    def layer_norm(x, ln, eps=1e-6):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * ln["scale"] + ln["bias"]

    x = obs.astype(np.float64)
    for i in range(2):
        x = x @ p[f"Dense_{i}"]["kernel"] + p[f"Dense_{i}"]["bias"]
        x = np.maximum(layer_norm(x, p[f"LayerNorm_{i}"]), 0.0)
    q = x @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"]
    np.testing.assert_allclose(net.apply(params, obs).q_values, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "net, obs_shape, widths",
    [
        (MinAtarQNetwork(6, layer_norm=True), (10, 10, 4), (16, 128)),
        (NatureQNetwork(6, layer_norm=True), (4, 84, 84), (32, 64, 64, 512)),
    ],
)
def test_conv_networks_take_a_layer_norm_before_every_relu(net, obs_shape, widths):
    obs = jax.ShapeDtypeStruct((1,) + obs_shape, jnp.uint8)
    with_ln = jax.eval_shape(net.init, jax.random.PRNGKey(0), obs)
    plain = jax.eval_shape(net.clone(layer_norm=False).init, jax.random.PRNGKey(0), obs)
    count = lambda tree: sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))  # noqa: E731
    assert count(with_ln) - count(plain) == 2 * sum(widths)  # a scale and a bias per feature
    # The other layers keep their names and shapes: checkpoints without LayerNorm still match.
    ln_free = {k: v for k, v in with_ln["params"].items() if not k.startswith("LayerNorm")}
    assert jax.tree_util.tree_structure(ln_free) == jax.tree_util.tree_structure(plain["params"])


def test_networks_read_layer_norm_from_the_config():
    config = types.SimpleNamespace(hidden=(8,), layer_norm=True, conv_padding="VALID")
    for name in ("mlp", "minatar", "nature"):
        assert NETWORKS[name](2, config).layer_norm


def test_learn_vmapped_over_seeds_equals_each_seed_alone():
    learner = make_learner()
    rollouts = [random_rollout(seed, T=4, E=6)[0] for seed in (5, 6)]
    stacked = jax.tree_util.tree_map(lambda *x: np.stack(x), *rollouts)
    keys = jax.random.split(jax.random.PRNGKey(4), 2)
    states = jax.vmap(lambda k: learner.init(k, jnp.zeros((1, 2))))(keys)
    together, _ = jax.jit(jax.vmap(learner.learn_rollout))(states, stacked)
    for s in range(2):
        seed = jax.tree_util.tree_map(lambda x, s=s: x[s], (states, together))
        alone, _ = learner.learn_rollout(seed[0], rollouts[s])
        jax.tree_util.tree_map(assert_close, seed[1].params, alone.params)


def assert_close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
