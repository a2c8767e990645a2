"""IQN (Dabney et al. 2018, "Implicit Quantile Networks"): the cosine embedding, the fractions
drawn per forward pass (N online, N' target, K acting), the loss against rlax and against a
hand-written form of Dopamine's, and the pairing checks. Learning: tests/test_learning.py-style
at the end (slow)."""

import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdqn import agent as agent_lib
from jaxdqn import iqn, networks
from jaxdqn.agent import hard_target_update, make_agent
from jaxdqn.config import AgentConfig, Config, EnvConfig
from jaxdqn.heads import FractionSamples, Head, QOutput
from jaxdqn.loop import mean_last
from jaxdqn.losses import LOSSES, LossInputs
from jaxdqn.policies import epsilon_greedy
from jaxdqn.registry import check_pairings
from jaxdqn.replay import Transition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "experiments"))

import cartpole  # noqa: E402

NUM_ACTIONS = 3
IQN = dict(head="implicit_quantile", num_tau_samples=5, num_tau_prime_samples=6,
           num_quantile_samples=4, quantile_embedding_dim=3)  # fmt: skip


def mlp(hidden=(8, 8), **kwargs) -> networks.MLPQNetwork:
    config = AgentConfig(network="mlp", hidden=hidden, **(IQN | kwargs))
    return networks.NETWORKS["mlp"](NUM_ACTIONS, config)


def init(network, obs):
    key = jax.random.PRNGKey(0)
    return network.init({"params": key, "noise": jax.random.fold_in(key, 1)}, obs)


# ---------------------------------------------------------------------------- the embedding


def test_cosine_embedding_by_hand():
    # cos(π·i·τ), i = 1, 2, 3: τ = 0.5 → cos(π/2), cos(π), cos(3π/2); τ = 0 → 1, 1, 1.
    got = iqn.cosine_embedding(jnp.array([[0.5, 0.0]]), 3)
    assert got.shape == (1, 2, 3)  # [B, N, n]
    np.testing.assert_allclose(got[0], [[0.0, -1.0, 0.0], [1.0, 1.0, 1.0]], atol=1e-6)
    tau = 1 / 3  # cos(π/3) = 1/2, cos(2π/3) = -1/2, cos(π) = -1
    np.testing.assert_allclose(iqn.cosine_embedding(jnp.array([tau]), 3), [[0.5, -0.5, -1.0]],
                               atol=1e-6)  # fmt: skip


def test_fractions_are_uniform_per_element_or_midpoints_without_a_key():
    tau = iqn.draw_fractions(jax.random.PRNGKey(0), (2, 7), 5)
    assert tau.shape == (2, 7, 5) and tau.dtype == jnp.float32
    assert float(tau.min()) >= 0.0 and float(tau.max()) < 1.0
    assert len(np.unique(np.asarray(tau))) == 70  # every element draws its own
    many = iqn.draw_fractions(jax.random.PRNGKey(1), (), 20_000)
    assert abs(float(many.mean()) - 0.5) < 0.01 and abs(float(many.var()) - 1 / 12) < 0.003
    midpoints = iqn.draw_fractions(None, (2,), 4)
    np.testing.assert_allclose(midpoints, [[0.125, 0.375, 0.625, 0.875]] * 2)


def test_fraction_embedding_shapes_and_numbers_by_hand():
    """Features [B, D] → [B, N, D] = x ⊙ ReLU(W·cos(π·i·τ) + b), τ [B, N]."""
    module = iqn.FractionEmbedding(embedding_dim=3)
    x = jnp.array([[1.0, -2.0], [0.5, 3.0]])  # [B=2, D=2]
    rngs = {"params": jax.random.PRNGKey(0), "noise": jax.random.PRNGKey(1)}
    params = module.init(rngs, x, 4)
    kernel, bias = params["params"]["dense"]["kernel"], params["params"]["dense"]["bias"]
    assert kernel.shape == (3, 2) and bias.shape == (2,)  # n cosines → D features
    out, tau = module.apply(params, x, 4, rngs={"noise": jax.random.PRNGKey(2)})
    assert out.shape == (2, 4, 2) and tau.shape == (2, 4)
    for b in range(2):
        for j in range(4):
            cosines = np.cos(math.pi * np.arange(1, 4) * float(tau[b, j]))
            phi = np.maximum(cosines @ np.asarray(kernel) + np.asarray(bias), 0.0)
            np.testing.assert_allclose(out[b, j], np.asarray(x[b]) * phi, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- the head


def test_network_draws_k_by_default_and_any_count_when_asked():
    network = mlp()
    obs = jnp.ones((7, 4))  # [B, obs]
    params = init(network, obs)
    assert "fraction_embedding" in params["params"]
    assert networks.fraction_samples(network) == FractionSamples(online=5, target=6, act=4)
    out = networks.forward(network, params, obs, jax.random.PRNGKey(3))
    assert out.quantiles.shape == (7, NUM_ACTIONS, 4) and out.fractions.shape == (7, 4)  # K
    np.testing.assert_allclose(out.q_values, out.quantiles.mean(-1), rtol=1e-6)
    for n in (1, 5, 6):
        out = networks.forward(network, params, obs, jax.random.PRNGKey(3), n)
        assert out.quantiles.shape == (7, NUM_ACTIONS, n) and out.fractions.shape == (7, n)
        assert out.q_values.shape == (7, NUM_ACTIONS)


def test_the_key_draws_the_fractions():
    network = mlp()
    obs = jnp.ones((2, 4))
    params = init(network, obs)
    a = networks.forward(network, params, obs, jax.random.PRNGKey(0))
    b = networks.forward(network, params, obs, jax.random.PRNGKey(0))
    c = networks.forward(network, params, obs, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(a.fractions, b.fractions)
    np.testing.assert_array_equal(a.quantiles, b.quantiles)
    assert not np.allclose(a.fractions, c.fractions)
    # The same observation in two rows of a batch: two draws, two sets of quantiles.
    assert not np.allclose(a.fractions[0], a.fractions[1])
    assert not np.allclose(a.quantiles[0], a.quantiles[1])


def test_quantiles_follow_their_fractions():
    """Asked at the same fractions (the midpoints, no key), any two passes agree: the quantile
    values depend on τ and the observation only."""
    network = mlp()
    obs = jnp.arange(8.0).reshape(2, 4)
    params = init(network, obs)
    out = QOutput(*network.apply(params, obs, 6))  # no "noise" rng: midpoints
    np.testing.assert_allclose(out.fractions[0], (2 * np.arange(6) + 1) / 12, rtol=1e-6)
    again = network.apply(params, obs[::-1], 6)
    np.testing.assert_allclose(again.quantiles[::-1], out.quantiles, rtol=1e-6)


@pytest.mark.parametrize("name", ["nature", "dueling", "shared_dueling", "mlp_dueling"])
def test_every_network_takes_the_head(name):
    image = name != "mlp_dueling"
    obs = jnp.zeros((2, 4, 84, 84), jnp.uint8) if image else jnp.ones((2, 4))
    network = networks.NETWORKS[name](NUM_ACTIONS, AgentConfig(network=name, hidden=(8, 8), **IQN))
    params = init(network, obs)
    out = networks.forward(network, params, obs, jax.random.PRNGKey(0), 5)
    assert out.quantiles.shape == (2, NUM_ACTIONS, 5) and out.fractions.shape == (2, 5)


def test_other_heads_are_untouched():
    """No embedding, no fractions, the same parameter tree as before IQN existed."""
    network = networks.NETWORKS["mlp"](NUM_ACTIONS, AgentConfig(network="mlp", hidden=(8, 8)))
    params = init(network, jnp.ones((1, 4)))
    assert sorted(params["params"]) == ["Dense_0", "Dense_1", "Dense_2"]
    assert networks.fraction_samples(network) is None
    assert Head(kind="quantile", num_atoms=4).fraction_samples is None
    out = networks.forward(network, params, jnp.ones((1, 4)), jax.random.PRNGKey(0))
    assert out.fractions is None and out.quantiles is None


# ---------------------------------------------------------------------------- the agent's passes


def build_agent(loss_name="implicit_quantile", batch_size=2):
    network = mlp()
    return make_agent(
        network=network,
        optimizer=optax.adam(1e-3),
        loss=LOSSES[loss_name](AgentConfig(**IQN, loss=loss_name)),
        policy=epsilon_greedy,
        policy_schedule=lambda *args: jnp.float32(0.0),
        target_update=hard_target_update(10),
        sample=None,
        batch_size=batch_size,
        num_actions=NUM_ACTIONS,
    )


def transitions(size=2) -> Transition:
    return Transition(
        s_tm1=jnp.arange(4.0 * size).reshape(size, 4) / 10,
        a_tm1=jnp.arange(size, dtype=jnp.int32) % NUM_ACTIONS,
        r_t=jnp.ones((size,)),
        discount_t=jnp.full((size,), 0.9),
        s_t=jnp.arange(4.0 * size).reshape(size, 4) / 5,
    )


def test_each_pass_draws_its_own_count_of_fresh_fractions():
    """N at the online s_tm1, N' at the target s_t, K elsewhere (selector and acting), each
    pass from its own key, new keys every update."""
    agent = build_agent()
    seen = []

    def spy(x: LossInputs):
        seen.append(x)
        return jnp.float32(0.0) + 0 * x.online_tm1.q_values.sum(), jnp.float32(1.0)

    parts = agent.update.args[0]._replace(loss=spy)
    state = agent.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    state, keys = agent_lib.forward_keys(parts, state)
    assert len({tuple(np.asarray(k).ravel()) for k in keys}) == 4  # four fresh keys
    out = agent_lib.loss_fn(parts, state.params, state.target_params, transitions(),
                            jnp.ones(2), keys)  # fmt: skip
    x = seen[-1]  # traced under vmap: unbatched shapes
    assert x.online_tm1.fractions.shape == (5,) and x.online_tm1.quantiles.shape == (3, 5)
    assert x.target_t.fractions.shape == (6,) and x.online_t.fractions.shape == (4,)
    assert x.target_tm1.fractions.shape == (4,)
    assert out[0].shape == ()
    _, later = agent_lib.forward_keys(parts, state)
    assert not np.array_equal(keys, later)


def test_acting_is_greedy_on_the_mean_of_k_quantiles():
    agent = build_agent()
    state = agent.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    obs = jnp.arange(12.0).reshape(3, 4) / 10
    key = jax.random.PRNGKey(5)
    q = agent.q_values(state.params, obs, key)
    out = networks.forward(agent.update.args[0].network, state.params, obs, key)
    assert out.fractions.shape == (3, 4)  # K = 4
    np.testing.assert_allclose(q, out.quantiles.mean(-1), rtol=1e-6)
    _, actions, _ = agent.act(state, obs)  # ε = 0: the greedy actions of its own draw
    assert actions.shape == (3,)


@pytest.mark.parametrize("jit", [False, True])
def test_an_update_trains_the_embedding(jit):
    agent = build_agent(batch_size=2)
    state = agent.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)))
    update = jax.jit(agent.update) if jit else agent.update
    new, metrics, priorities = update(state, transitions())
    assert priorities.shape == (2,) and np.isfinite(metrics["loss"])
    before = state.params["params"]["fraction_embedding"]["dense"]["kernel"]
    after = new.params["params"]["fraction_embedding"]["dense"]["kernel"]
    assert not np.allclose(before, after)


# ---------------------------------------------------------------------------- the loss


def random_inputs(seed, n=5, n_prime=6, k=4):
    rng = np.random.default_rng(seed)

    def out(num, scale=1.0):
        return QOutput(
            q_values=jnp.zeros(NUM_ACTIONS),
            quantiles=jnp.asarray(rng.normal(0, scale, (NUM_ACTIONS, num)), jnp.float32),
            fractions=jnp.asarray(rng.uniform(size=num), jnp.float32),
        )

    return LossInputs(out(n), out(k), jnp.int32(rng.integers(NUM_ACTIONS)),
                      jnp.float32(rng.normal()), jnp.float32(0.9), out(k, 2.0),
                      out(n_prime, 2.0))  # fmt: skip


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_loss_agrees_with_rlax(seed, double):
    rlax = pytest.importorskip("rlax")
    x = random_inputs(seed)
    name = "implicit_quantile_double_q" if double else "implicit_quantile"
    loss, priority = LOSSES[name](AgentConfig(quantile_kappa=1.0))(x)
    selector = x.online_t if double else x.target_t
    expected = rlax.quantile_q_learning(
        x.online_tm1.quantiles.T, x.online_tm1.fractions, x.a_tm1, x.r_t, x.discount_t,
        selector.quantiles.T, x.target_t.quantiles.T, huber_param=1.0,
    )  # fmt: skip
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert priority == loss


def dopamine_form(x: LossInputs, a_star: int, kappa: float = 1.0) -> float:
    """Dabney et al. 2018 eq. 3 as Dopamine writes it: δ_ij = target_j - Z_τi, the Huber loss
    times |τ_i - 1{δ_ij < 0}| / κ, summed over the N online fractions i, averaged over the
    N' target ones j."""
    z = np.asarray(x.online_tm1.quantiles[int(x.a_tm1)], np.float64)  # [N]
    tau = np.asarray(x.online_tm1.fractions, np.float64)
    target = float(x.r_t) + float(x.discount_t) * np.asarray(x.target_t.quantiles[a_star])
    delta = target[None, :] - z[:, None]  # [N, N']
    huber = np.where(np.abs(delta) <= kappa, 0.5 * delta**2, kappa * (np.abs(delta) - kappa / 2))
    rho = np.abs(tau[:, None] - (delta < 0)) * huber / kappa
    return float(np.sum(np.mean(rho, axis=1)))


@pytest.mark.parametrize("seed", range(3))
def test_loss_is_the_papers_by_hand(seed):
    x = random_inputs(seed)
    loss, _ = LOSSES["implicit_quantile"](AgentConfig(quantile_kappa=1.0))(x)
    a_star = int(np.argmax(np.asarray(x.target_t.quantiles).mean(axis=1)))
    np.testing.assert_allclose(loss, dopamine_form(x, a_star), rtol=1e-5)
    double, _ = LOSSES["implicit_quantile_double_q"](AgentConfig(quantile_kappa=1.0))(x)
    a_online = int(np.argmax(np.asarray(x.online_t.quantiles).mean(axis=1)))
    np.testing.assert_allclose(double, dopamine_form(x, a_online), rtol=1e-5)


def test_loss_gradient_reaches_only_the_online_quantiles():
    x = random_inputs(0)
    loss = LOSSES["implicit_quantile"](AgentConfig())

    def f(online_q, target_q):
        y = x._replace(online_tm1=x.online_tm1._replace(quantiles=online_q),
                       target_t=x.target_t._replace(quantiles=target_q))  # fmt: skip
        return loss(y)[0]

    g_online, g_target = jax.grad(f, argnums=(0, 1))(x.online_tm1.quantiles, x.target_t.quantiles)
    assert np.any(np.asarray(g_online[x.a_tm1]) != 0)
    np.testing.assert_array_equal(np.delete(np.asarray(g_online), int(x.a_tm1), axis=0), 0)
    np.testing.assert_array_equal(g_target, 0)


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "field", ["num_tau_samples", "num_tau_prime_samples", "num_quantile_samples",
              "quantile_embedding_dim"],
)  # fmt: skip
def test_config_refuses_counts_below_one(field):
    with pytest.raises(ValueError, match=field):
        AgentConfig(**{field: 0})


def test_head_and_loss_must_pair():
    env = EnvConfig(env_id="CartPole-v1")
    ok = Config(env=env, agent=AgentConfig(network="mlp", head="implicit_quantile",
                                           loss="implicit_quantile"))  # fmt: skip
    check_pairings(ok)
    for head, loss in [("quantile", "implicit_quantile"), ("implicit_quantile", "quantile"),
                       ("q", "implicit_quantile_double_q")]:  # fmt: skip
        bad = Config(env=env, agent=AgentConfig(network="mlp", head=head, loss=loss))
        with pytest.raises(ValueError, match="needs the"):
            check_pairings(bad)
    with pytest.raises(ValueError, match="fraction samples"):
        Head(kind="implicit_quantile", num_tau_samples=0)


def test_a_network_without_the_embedding_is_named():
    """A forked network that declares the head but never embeds fractions fails with a message
    that says what is missing, not with a shape error."""
    head = Head(kind="implicit_quantile")
    with pytest.raises(ValueError, match="embed sampled fractions"):
        networks.head_output(head, jnp.zeros((2, NUM_ACTIONS)), NUM_ACTIONS)


# ---------------------------------------------------------------------------- learning

# IQN on CartPole at a CI-sized budget: the cartpole preset with the implicit quantile head,
# N = N' = K = 8 fractions instead of 64, 64, 32 (Dabney et al. 2018's Figure 2 varies N and N'
# from 1 to 64; 64 × 64 pairs per transition cost several times more per update on this CPU),
# batch 32 and ε decayed over 3,000 steps.
IQN_CARTPOLE = [
    "--head", "implicit_quantile", "--loss", "implicit_quantile", "--num-tau-samples", "8",
    "--num-tau-prime-samples", "8", "--num-quantile-samples", "8", "--batch-size", "32",
    "--exploration-steps", "3000",
]  # fmt: skip


@pytest.mark.slow
def test_iqn_learns_cartpole(tmp_path):
    """3 seeds vmapped, 6,000 agent steps each: the mean over seeds of the last 20 games must
    reach 100 (random play: ≈22). Measured with the same flags at 6,000 steps on this 2-core
    CPU (≈50–58 s of CPU time per run, compiling included), seed triples starting at 0, 3, 6:
    means 149, 178, 189 and (first seed 9) 172, lowest single seed 132; at 8,000 steps (ε over
    4,000) from first seeds 0, 3, 6: 168, 215, 226."""
    out = cartpole.main(IQN_CARTPOLE + [
        "--num-seeds", "3", "--total-frames", "6000", "--eval-every", "0",
        "--eval-episodes", "1", "--run-dir", str(tmp_path), "--run-name", "iqn", "--no-progress",
    ])  # fmt: skip
    last20 = [mean_last(s, 20) for s in out["scores"]]
    assert np.mean(last20) >= 100, last20
