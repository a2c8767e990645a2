"""Network heads: the QOutput contract, categorical (C51) and quantile (QR-DQN) heads, dueling
per atom, and factorised noisy layers (Fortunato et al. 2018), against numpy computations."""

from types import SimpleNamespace

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.networks import (
    NETWORKS,
    DuelingQNetwork,
    Head,
    MLPQNetwork,
    NoisyDense,
    QOutput,
    SharedDuelingQNetwork,
    as_output,
    head_from_config,
    head_output,
)

OBS_SHAPE = (4, 84, 84)
A = 3  # actions
IMAGE = ("nature", "dueling", "shared_dueling")


def agent_config(**fields):
    """A stand-in AgentConfig: only the fields the network factories read."""
    return SimpleNamespace(conv_padding="VALID", hidden=(16, 8), **fields)


def example_obs(name, batch=2):
    if name in IMAGE:
        return jax.ShapeDtypeStruct((batch,) + OBS_SHAPE, jnp.uint8)
    return jax.ShapeDtypeStruct((batch, 4), jnp.float32)


def shapes(tree):
    """{"Layer/leaf": shape} of a param tree (or of its eval_shape)."""
    return {
        "/".join(str(k.key) for k in path): tuple(leaf.shape)
        for path, leaf in jax.tree.leaves_with_path(tree)
    }


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def random_params(params, seed, scale=0.3):
    """Every leaf replaced by normal draws (non-zero biases, σ, …)."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [scale * jax.random.normal(k, leaf.shape) for k, leaf in zip(keys, leaves, strict=True)]
    return jax.tree.unflatten(treedef, new)


def numpy_mlp(p, x, names):
    """The MLP's dense layers in float64, ReLU between: the raw output layer `[..., A·n]`."""
    x = np.asarray(x, np.float64)
    for i, name in enumerate(names):
        x = x @ np.asarray(p[name]["kernel"], np.float64) + np.asarray(p[name]["bias"], np.float64)
        x = np.maximum(x, 0.0) if i < len(names) - 1 else x
    return x


# --- the head description and the output type -------------------------------------------------


def test_head_from_config_defaults_and_fields():
    # Before the config has the fields: the plain Q head (C51's defaults for the rest).
    assert head_from_config(SimpleNamespace()) == Head("q", 51, -10.0, 10.0, False, 0.5)
    head = head_from_config(
        SimpleNamespace(head="categorical", num_atoms=21, v_min=-5, v_max=7, noisy=True)
    )
    assert head == Head("categorical", 21, -5.0, 7.0, True, 0.5)
    assert head.values_per_action == 21
    assert Head("q", num_atoms=200).values_per_action == 1
    np.testing.assert_allclose(head.support(), np.linspace(-5.0, 7.0, 21), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="head kind"):
        Head("iqn")
    with pytest.raises(ValueError, match="v_min"):
        Head("categorical", v_min=1.0, v_max=1.0)


def test_as_output():
    q = jnp.arange(6.0).reshape(2, 3)
    out = as_output(q)
    assert isinstance(out, QOutput) and out.q_values is q
    assert out.logits is None and out.atoms is None and out.quantiles is None
    assert as_output(out) is out


# --- shapes of every head on every network ------------------------------------------------------


@pytest.mark.parametrize("noisy", [False, True])
@pytest.mark.parametrize("kind, n", [("q", 1), ("categorical", 51), ("quantile", 200)])
@pytest.mark.parametrize("name", ["nature", "dueling", "shared_dueling", "mlp"])
def test_output_shapes(name, kind, n, noisy):
    config = agent_config(head=kind, num_atoms=n if kind != "q" else 51, noisy=noisy)
    net = NETWORKS[name](A, config)
    rngs = {"params": jax.random.key(0), "noise": jax.random.key(1)}
    params = jax.eval_shape(net.init, rngs, example_obs(name, 1))
    out = jax.eval_shape(
        lambda p, o: net.apply(p, o, rngs={"noise": jax.random.key(2)}), params, example_obs(name)
    )
    assert isinstance(out, QOutput)
    assert out.q_values.shape == (2, A) and out.q_values.dtype == jnp.float32
    assert (out.logits is None) == (out.atoms is None) == (kind != "categorical")
    assert (out.quantiles is None) == (kind != "quantile")
    if kind == "categorical":
        assert out.logits.shape == (2, A, n) and out.atoms.shape == (2, n)
    if kind == "quantile":
        assert out.quantiles.shape == (2, A, n)
    # The output layer(s): A·n units (advantage) and n (value) for dueling networks.
    p = shapes(params["params"])
    leaf = "kernel_mu" if noisy else "kernel"
    prefix = "NoisyDense" if noisy else "Dense"
    last = {"nature": f"{prefix}_1", "mlp": f"{prefix}_2"}.get(name, "advantage")
    assert p[f"{last}/{leaf}"][-1] == A * n
    if "dueling" in name:
        assert p[f"value/{leaf}"] == (512, n)


def test_extra_leading_axes():
    net = MLPQNetwork(A, (16,), Head("categorical", 11))
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    out = net.apply(params, jnp.ones((5, 2, 4)))
    assert out.q_values.shape == (5, 2, A) and out.logits.shape == (5, 2, A, 11)
    assert out.atoms.shape == (5, 2, 11)
    single = net.apply(params, jnp.ones((4,)))
    assert single.q_values.shape == (A,) and single.atoms.shape == (11,)
    # vmap over a batch: every row's atoms are the support.
    batched = jax.vmap(lambda o: net.apply(params, o))(jnp.ones((3, 4)))
    np.testing.assert_array_equal(batched.atoms, np.broadcast_to(net.head.support(), (3, 11)))


# --- the plain Q head keeps the architecture's parameter trees -----------------------------------

NATURE = {"Conv_0/bias": (32,), "Conv_0/kernel": (8, 8, 4, 32),
          "Conv_1/bias": (64,), "Conv_1/kernel": (4, 4, 32, 64),
          "Conv_2/bias": (64,), "Conv_2/kernel": (3, 3, 64, 64)}  # fmt: skip
Q_TREES = {
    "nature": {**NATURE, "Dense_0/bias": (512,), "Dense_0/kernel": (3136, 512),
               "Dense_1/bias": (A,), "Dense_1/kernel": (512, A)},
    "dueling": {**NATURE, "value_hidden/bias": (512,), "value_hidden/kernel": (3136, 512),
                "value/bias": (1,), "value/kernel": (512, 1),
                "advantage_hidden/bias": (512,), "advantage_hidden/kernel": (3136, 512),
                "advantage/bias": (A,), "advantage/kernel": (512, A)},
    "shared_dueling": {**NATURE, "hidden/bias": (512,), "hidden/kernel": (3136, 512),
                       "value/bias": (1,), "value/kernel": (512, 1),
                       "advantage/bias": (A,), "advantage/kernel": (512, A)},
    "mlp": {"Dense_0/bias": (16,), "Dense_0/kernel": (4, 16), "Dense_1/bias": (8,),
            "Dense_1/kernel": (16, 8), "Dense_2/bias": (A,), "Dense_2/kernel": (8, A)},
}  # fmt: skip


@pytest.mark.parametrize("name", list(Q_TREES))
@pytest.mark.parametrize("fields", [{}, {"head": "q", "num_atoms": 200, "noisy": False}])
def test_q_head_parameter_tree_is_the_architectures(name, fields):
    """Checked by hand against the networks before heads existed (same names, shapes, initial
    values and Q-values, bit for bit): the Q head's trees, whatever num_atoms says."""
    net = NETWORKS[name](A, agent_config(**fields))
    params = jax.eval_shape(net.init, jax.random.key(0), example_obs(name, 1))
    assert set(params) == {"params"}
    assert shapes(params["params"]) == Q_TREES[name]


def test_noisy_trees_keep_the_torso():
    """Noisy heads: every dense layer after the torso is a NoisyDense (μ and σ for the kernel
    and the bias), the convolutions stay plain (Hessel et al. 2018)."""
    net = NETWORKS["dueling"](A, agent_config(noisy=True, head="quantile", num_atoms=7))
    p = shapes(jax.eval_shape(net.init, jax.random.key(0), example_obs("dueling", 1))["params"])
    expected = dict(NATURE)
    fans = {"value_hidden": (3136, 512), "value": (512, 7),
            "advantage_hidden": (3136, 512), "advantage": (512, A * 7)}  # fmt: skip
    for layer, (fan_in, fan_out) in fans.items():
        for kind in ("mu", "sigma"):
            expected[f"{layer}/kernel_{kind}"] = (fan_in, fan_out)
            expected[f"{layer}/bias_{kind}"] = (fan_out,)
    assert p == expected
    net = NETWORKS["nature"](A, agent_config(noisy=True))
    p = shapes(jax.eval_shape(net.init, jax.random.key(0), example_obs("nature", 1))["params"])
    assert {k.split("/")[0] for k in p} == {"Conv_0", "Conv_1", "Conv_2", "NoisyDense_0",
                                           "NoisyDense_1"}  # fmt: skip
    assert p["NoisyDense_0/kernel_sigma"] == (3136, 512) and p["NoisyDense_1/bias_mu"] == (A,)


# --- categorical and quantile heads ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["categorical", "quantile"])
def test_distributional_heads_match_numpy(kind):
    n = 7
    head = Head(kind, n, v_min=-3.0, v_max=5.0)
    net = MLPQNetwork(A, (16, 8), head)
    params = random_params(net.init(jax.random.key(0), jnp.zeros((1, 4))), 1)
    obs = np.random.default_rng(2).normal(size=(4, 4)).astype(np.float32)
    out = net.apply(params, jnp.asarray(obs))
    # The output layer's A·n units, read as [B, A, n]: unit a·n + i is atom i of action a.
    z = numpy_mlp(params["params"], obs, ["Dense_0", "Dense_1", "Dense_2"]).reshape(4, A, n)
    if kind == "categorical":
        assert out.quantiles is None
        atoms = np.linspace(-3.0, 5.0, n)
        np.testing.assert_allclose(out.atoms, np.broadcast_to(atoms, (4, n)), rtol=1e-6)
        np.testing.assert_allclose(out.logits, z, rtol=1e-5, atol=1e-5)
        # Bellemare et al. 2017: Q(s, a) = Σ_i z_i p_i(s, a), from the returned logits.
        logits = np.asarray(out.logits, np.float64)
        np.testing.assert_allclose(out.q_values, softmax(logits) @ atoms, rtol=1e-5, atol=1e-6)
    else:
        assert out.logits is None and out.atoms is None
        np.testing.assert_allclose(out.quantiles, z, rtol=1e-5, atol=1e-5)
        # Dabney et al. 2018: Q(s, a) = (1/N) Σ_i θ_i(s, a).
        q = np.asarray(out.quantiles, np.float64).mean(-1)
        np.testing.assert_allclose(out.q_values, q, rtol=1e-5, atol=1e-6)


def test_categorical_uniform_logits_give_the_middle_of_the_support():
    head = Head("categorical", 5, v_min=-2.0, v_max=6.0)
    out = head_output(head, jnp.zeros((1, A * 5)), A)
    np.testing.assert_allclose(out.q_values, np.full((1, A), 2.0), rtol=1e-6)


@pytest.mark.parametrize("kind", ["q", "categorical", "quantile"])
def test_head_output_dueling_per_atom(kind):
    n = 1 if kind == "q" else 4
    head = Head(kind, 4)
    rng = np.random.default_rng(3)
    value = rng.normal(size=(2, n)).astype(np.float32)
    advantage = rng.normal(size=(2, A * n)).astype(np.float32)
    out = head_output(head, jnp.asarray(advantage), A, jnp.asarray(value))
    adv = advantage.astype(np.float64).reshape(2, A, n)
    # Wang et al. 2016 eq. 9 per atom, before the softmax / mean (Hessel et al. 2018).
    z = value[:, None, :] + adv - adv.mean(axis=1, keepdims=True)
    if kind == "q":
        np.testing.assert_allclose(out.q_values, z[..., 0], rtol=1e-5, atol=1e-6)
    elif kind == "quantile":
        np.testing.assert_allclose(out.quantiles, z, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.q_values, z.mean(-1), rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(out.logits, z, rtol=1e-5, atol=1e-6)
        expected = softmax(z) @ np.linspace(-10.0, 10.0, 4)
        np.testing.assert_allclose(out.q_values, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("network", [DuelingQNetwork, SharedDuelingQNetwork])
def test_dueling_networks_combine_the_streams_per_atom(network):
    """The streams as the network computed them (captured), combined by hand."""
    n = 5
    net = network(A, "VALID", Head("categorical", n, v_min=-1.0, v_max=2.0))
    obs = jax.random.randint(jax.random.key(0), (2,) + OBS_SHAPE, 0, 256).astype(jnp.uint8)
    params = jax.jit(net.init)(jax.random.key(1), obs[:1])
    # Flax's zero biases would leave value ≈ advantage ≈ 0: give the output layers some.
    for i, name in enumerate(("value", "advantage")):
        bias = params["params"][name]["bias"]
        params["params"][name]["bias"] = jax.random.normal(jax.random.key(2 + i), bias.shape)
    apply = jax.jit(lambda prm, o: net.apply(prm, o, capture_intermediates=True))
    out, state = apply(params, obs)
    value = np.asarray(state["intermediates"]["value"]["__call__"][0], np.float64)
    advantage = np.asarray(state["intermediates"]["advantage"]["__call__"][0], np.float64)
    assert value.shape == (2, n) and advantage.shape == (2, A * n)
    adv = advantage.reshape(2, A, n)
    z = value[:, None, :] + adv - adv.mean(axis=1, keepdims=True)
    assert np.abs(z).max() > 0.1  # not a degenerate check
    np.testing.assert_allclose(out.logits, z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        out.q_values, softmax(z) @ np.linspace(-1.0, 2.0, n), rtol=1e-4, atol=1e-5
    )


# --- noisy layers (Fortunato et al. 2018, factorised Gaussian noise) ------------------------------


def noisy_layer(p=6, q=5, seed=0):
    layer = NoisyDense(q)
    params = layer.init({"params": jax.random.key(seed)}, jnp.zeros((1, p)))
    return layer, params


def recover_noise(layer, params, key):
    """ε_w and ε_b of one key, read off the layer: y(0) = b, y(e_i) - y(0) = row i of W."""
    p = params["params"]
    p_in = p["kernel_mu"].shape[0]
    x = jnp.concatenate([jnp.zeros((1, p_in)), jnp.eye(p_in)])
    y = np.asarray(layer.apply(params, x, rngs={"noise": key}), np.float64)
    bias, kernel = y[0], y[1:] - y[0]
    f64 = lambda name: np.asarray(p[name], np.float64)
    eps_w = (kernel - f64("kernel_mu")) / f64("kernel_sigma")
    eps_b = (bias - f64("bias_mu")) / f64("bias_sigma")
    return eps_w, eps_b


def test_noisy_init_ranges():
    p_in, q_out = 256, 512
    _, params = noisy_layer(p_in, q_out)
    p = params["params"]
    assert shapes(p) == {"kernel_mu": (p_in, q_out), "kernel_sigma": (p_in, q_out),
                         "bias_mu": (q_out,), "bias_sigma": (q_out,)}  # fmt: skip
    bound = 1.0 / np.sqrt(p_in)  # μ ~ U[-1/√p, 1/√p]
    for name in ("kernel_mu", "bias_mu"):
        mu = np.asarray(p[name], np.float64).ravel()
        assert np.abs(mu).max() <= bound and np.abs(mu).max() > 0.95 * bound, name
        np.testing.assert_allclose(mu.std(), bound / np.sqrt(3), rtol=0.1, err_msg=name)
        assert abs(mu.mean()) < 0.1 * bound, name
    for name in ("kernel_sigma", "bias_sigma"):  # σ = σ0/√p, σ0 = 0.5
        np.testing.assert_allclose(p[name], 0.5 / np.sqrt(p_in), rtol=1e-6, err_msg=name)
    assert NoisyDense(3, sigma0=0.1).init(jax.random.key(0), jnp.zeros((1, 4)))["params"][
        "kernel_sigma"
    ][0, 0] == pytest.approx(0.1 / 2)


def test_noisy_with_zero_sigma_is_a_dense_layer_on_mu():
    layer, params = noisy_layer(seed=1)
    p = params["params"]
    zero_sigma = {"params": {**p, "kernel_sigma": jnp.zeros_like(p["kernel_sigma"]),
                             "bias_sigma": jnp.zeros_like(p["bias_sigma"])}}  # fmt: skip
    dense = {"params": {"kernel": p["kernel_mu"], "bias": p["bias_mu"]}}
    x = jax.random.normal(jax.random.key(2), (3, 6))
    expected = nn.Dense(5).apply(dense, x)
    noisy = layer.apply(zero_sigma, x, rngs={"noise": jax.random.key(3)})
    np.testing.assert_allclose(noisy, expected, rtol=1e-6, atol=1e-7)
    # No "noise" rng: the mean weights, whatever σ is (the documented noise-free behaviour).
    np.testing.assert_allclose(layer.apply(params, x), expected, rtol=1e-6, atol=1e-7)


def test_noisy_output_depends_on_the_key_only():
    layer, params = noisy_layer(seed=4)
    x = jax.random.normal(jax.random.key(5), (3, 6))
    y = lambda seed: np.asarray(layer.apply(params, x, rngs={"noise": jax.random.key(seed)}))
    np.testing.assert_array_equal(y(7), y(7))
    assert np.abs(y(7) - y(8)).min() > 1e-6  # every output moves with new noise
    assert np.abs(y(7) - np.asarray(layer.apply(params, x))).min() > 1e-6
    # One draw per call, shared by the batch: each row equals that row applied alone.
    np.testing.assert_allclose(
        y(7)[1], layer.apply(params, x[1], rngs={"noise": jax.random.key(7)}), rtol=1e-5
    )


def test_noise_is_factorised():
    """ε_w = f(ε_i) f(ε_j)ᵀ and ε_b = f(ε_j), f(x) = sgn(x)√|x|, ε ~ N(0, 1): recovered from
    the layer's outputs, ε_w is the outer product of some u with ε_b, and f⁻¹ of u and of ε_b
    (x ↦ sgn(x) x²) look standard normal."""
    layer, params = noisy_layer(300, 400, seed=6)
    eps_w, eps_b = recover_noise(layer, params, jax.random.key(9))
    u = eps_w @ eps_b / (eps_b @ eps_b)  # least squares: ε_w ≈ u ε_bᵀ
    np.testing.assert_allclose(eps_w, np.outer(u, eps_b), atol=2e-3)
    assert np.linalg.svd(eps_w, compute_uv=False)[1] < 1e-3 * np.abs(eps_w).max()
    for f_eps in (u, eps_b):
        eps = np.sign(f_eps) * f_eps**2  # f⁻¹
        assert abs(eps.mean()) < 0.2 and abs(eps.std() - 1.0) < 0.15
    # Another key, other noise.
    other_w, other_b = recover_noise(layer, params, jax.random.key(10))
    assert np.abs(other_b - eps_b).min() > 1e-6 and not np.allclose(other_w, eps_w)


def test_noisy_gradients_reach_mu_and_sigma():
    """loss = Σ y over a batch: ∂/∂μ_w = Σ_b x_b (each column), ∂/∂σ_w = (Σ_b x_b) ⊙ ε_w,
    ∂/∂μ_b = B, ∂/∂σ_b = B ε_b."""
    layer, params = noisy_layer(seed=11)
    key = jax.random.key(12)
    x = jax.random.normal(jax.random.key(13), (4, 6))
    grads = jax.grad(lambda prm: layer.apply(prm, x, rngs={"noise": key}).sum())(params)["params"]
    eps_w, eps_b = recover_noise(layer, params, key)
    x_sum = np.asarray(x, np.float64).sum(0)[:, None]
    np.testing.assert_allclose(grads["kernel_mu"], np.broadcast_to(x_sum, (6, 5)), rtol=1e-5)
    np.testing.assert_allclose(grads["kernel_sigma"], x_sum * eps_w, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(grads["bias_mu"], np.full(5, 4.0), rtol=1e-6)
    np.testing.assert_allclose(grads["bias_sigma"], 4.0 * eps_b, rtol=1e-3, atol=1e-4)


def test_noisy_network_keys_gradients_and_mean_weights():
    head = Head("quantile", 3, noisy=True)
    net = MLPQNetwork(A, (16, 8), head)
    obs = jax.random.normal(jax.random.key(0), (2, 4))
    params = jax.jit(net.init)({"params": jax.random.key(1), "noise": jax.random.key(2)}, obs)
    assert set(params["params"]) == {"NoisyDense_0", "NoisyDense_1", "NoisyDense_2"}
    apply = jax.jit(lambda prm, key: net.apply(prm, obs, rngs={"noise": key}).q_values)
    q = lambda prm, seed: apply(prm, jax.random.key(seed))
    np.testing.assert_array_equal(q(params, 3), q(params, 3))
    assert not np.allclose(q(params, 3), q(params, 4))
    # Every μ and σ of every layer gets a gradient.
    grads = jax.grad(lambda prm: q(prm, 3).sum())(params)["params"]
    for layer, leaves in grads.items():
        for name, g in leaves.items():
            assert np.abs(np.asarray(g)).max() > 0, (layer, name)
    # No "noise" rng: the network on the mean weights, i.e. the noise-free network with μ.
    plain = MLPQNetwork(A, (16, 8), Head("quantile", 3))
    mu = {f"Dense_{i}": {"kernel": params["params"][f"NoisyDense_{i}"]["kernel_mu"],
                         "bias": params["params"][f"NoisyDense_{i}"]["bias_mu"]}
          for i in range(3)}  # fmt: skip
    mean_weights = jax.jit(net.apply)(params, obs).quantiles
    np.testing.assert_allclose(mean_weights, plain.apply({"params": mu}, obs).quantiles, rtol=1e-6)
    # vmapped over keys (the trainer's seeds): each key its own noise.
    qs = jax.jit(jax.vmap(apply, (None, 0)))(params, jax.random.split(jax.random.key(5), 3))
    assert qs.shape == (3, 2, A) and not np.allclose(qs[0], qs[1])
