"""Q-networks: shapes, parameter counts, and outputs against a numpy forward pass."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn.networks import MLPQNetwork, NatureQNetwork

OBS_SHAPE = (4, 84, 84)  # envpool's [stack, H, W]


def num_params(params):
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


def numpy_conv_valid(x, kernel, bias, stride):
    """x [B, H, W, C], kernel [k, k, C, O] → [B, H', W', O], VALID padding."""
    k = kernel.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
    windows = windows[:, ::stride, ::stride]  # [B, H', W', C, k, k]
    return np.einsum("bhwcij,ijco->bhwo", windows, kernel) + bias


def numpy_nature_layers(params, x):
    """Mnih et al. 2015 on already-scaled float input `[B, 4, 84, 84]`: conv 8/4, conv 4/2,
    conv 3/1, dense 512, dense A; ReLU between."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    x = np.transpose(np.asarray(x, np.float64), (0, 2, 3, 1))  # [B, 84, 84, 4]
    relu = lambda v: np.maximum(v, 0.0)
    x = relu(numpy_conv_valid(x, p["Conv_0"]["kernel"], p["Conv_0"]["bias"], 4))  # [B,20,20,32]
    x = relu(numpy_conv_valid(x, p["Conv_1"]["kernel"], p["Conv_1"]["bias"], 2))  # [B,9,9,64]
    x = relu(numpy_conv_valid(x, p["Conv_2"]["kernel"], p["Conv_2"]["bias"], 1))  # [B,7,7,64]
    x = x.reshape(x.shape[0], -1)  # [B, 3136]
    x = relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    return x @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]


def numpy_nature_forward(params, obs):
    """uint8 frames → Q-values: scale to [0, 1], then the layers."""
    return numpy_nature_layers(params, np.asarray(obs, np.float64) / 255.0)


@pytest.fixture(scope="module")
def nature():
    net = NatureQNetwork(num_actions=7)
    params = jax.jit(net.init)(jax.random.key(0), jnp.zeros((1,) + OBS_SHAPE, jnp.uint8))
    # Flax initialises biases to zero; give them values so the bias paths are exercised.
    leaves, treedef = jax.tree.flatten_with_path(params)
    keys = jax.random.split(jax.random.key(1), len(leaves))
    params = jax.tree.unflatten(
        treedef,
        [
            0.1 * jax.random.normal(k, leaf.shape) if path[-1].key == "bias" else leaf
            for k, (path, leaf) in zip(keys, leaves, strict=True)
        ],
    )
    return net, params


def random_frames(seed, batch):
    return np.random.default_rng(seed).integers(0, 256, (batch,) + OBS_SHAPE, dtype=np.uint8)


@pytest.mark.slow
def test_nature_output_shape_and_dtype(nature):
    net, params = nature
    q = net.apply(params, jnp.asarray(random_frames(0, 3))).q_values
    assert q.shape == (3, 7)
    assert q.dtype == jnp.float32
    assert np.isfinite(np.asarray(q)).all()


def test_nature_parameter_count():
    # Mnih et al. 2015: conv 8×8×4→32, 4×4×32→64, 3×3×64→64, dense 3136→512, dense 512→7.
    expected = (
        (8 * 8 * 4 * 32 + 32)  # 8,224
        + (4 * 4 * 32 * 64 + 64)  # 32,832
        + (3 * 3 * 64 * 64 + 64)  # 36,928
        + (3136 * 512 + 512)  # 1,606,144   (3136 = 7·7·64)
        + (512 * 7 + 7)  # 3,591
    )
    assert expected == 1_687_719
    # Shapes only (eval_shape): no need to compute the initial values.
    params = jax.eval_shape(
        NatureQNetwork(num_actions=7).init,
        jax.random.key(0),
        jax.ShapeDtypeStruct((1,) + OBS_SHAPE, jnp.uint8),
    )
    assert num_params(params) == expected
    p = params["params"]
    assert p["Conv_0"]["kernel"].shape == (8, 8, 4, 32)
    assert p["Conv_1"]["kernel"].shape == (4, 4, 32, 64)
    assert p["Conv_2"]["kernel"].shape == (3, 3, 64, 64)
    assert p["Dense_0"]["kernel"].shape == (3136, 512)
    assert p["Dense_1"]["kernel"].shape == (512, 7)


@pytest.mark.slow
def test_nature_matches_numpy_forward(nature):
    net, params = nature
    obs = random_frames(2, 2)
    np.testing.assert_allclose(
        net.apply(params, jnp.asarray(obs)).q_values,
        numpy_nature_forward(params, obs),
        rtol=1e-4,
        atol=1e-4,
    )


def test_nature_divides_by_255(nature):
    net, params = nature
    # All-255 frames must behave as inputs of 1.0 and all-zero frames as inputs of 0.0 (the
    # bias-only path): compare with the layers applied to those float values directly.
    shape = (1,) + OBS_SHAPE
    for frame_value, float_value in ((0, 0.0), (255, 1.0)):
        np.testing.assert_allclose(
            net.apply(params, jnp.full(shape, frame_value, jnp.uint8)).q_values,
            numpy_nature_layers(params, np.full(shape, float_value)),
            rtol=1e-4,
            atol=1e-4,
        )
    # Guard: without the division the layers would see 255.0, which gives other Q-values.
    assert not np.allclose(
        numpy_nature_layers(params, np.full(shape, 255.0)),
        numpy_nature_layers(params, np.full(shape, 1.0)),
        rtol=1e-2,
    )


def test_nature_zero_input_with_zero_biases_is_zero(nature):
    # With zero biases (flax's initialisation) every layer maps 0 to 0.
    net, params = nature
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if path[-1].key == "bias" else x, params
    )
    q = net.apply(params, jnp.zeros((2,) + OBS_SHAPE, jnp.uint8)).q_values
    np.testing.assert_array_equal(q, np.zeros((2, 7), np.float32))


def test_nature_uint8_and_float_inputs_agree(nature):
    net, params = nature
    obs = random_frames(4, 2)
    q_uint8 = net.apply(params, jnp.asarray(obs)).q_values
    q_float = net.apply(params, jnp.asarray(obs, jnp.float32)).q_values
    np.testing.assert_array_equal(q_uint8, q_float)


def test_nature_batch_rows_are_independent(nature):
    net, params = nature
    obs = jnp.asarray(random_frames(5, 3))
    q = net.apply(params, obs).q_values
    np.testing.assert_allclose(q[1:2], net.apply(params, obs[1:2]).q_values, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_nature_extra_leading_axes(nature):
    # [seeds, envs, 4, 84, 84] → [seeds, envs, A], the same values as the flattened batch.
    net, params = nature
    obs = jnp.asarray(random_frames(6, 6)).reshape((2, 3) + OBS_SHAPE)
    q = net.apply(params, obs).q_values
    assert q.shape == (2, 3, 7)
    flat = net.apply(params, obs.reshape((6,) + OBS_SHAPE)).q_values
    np.testing.assert_allclose(q.reshape(6, 7), flat, rtol=1e-5, atol=1e-5)


def test_nature_jit_matches_eager(nature):
    net, params = nature
    obs = jnp.asarray(random_frames(7, 2))
    np.testing.assert_allclose(
        jax.jit(net.apply)(params, obs).q_values,
        net.apply(params, obs).q_values,
        rtol=1e-5,
        atol=1e-5,
    )


@pytest.mark.slow
def test_mlp_shapes_and_parameter_count():
    net = MLPQNetwork(num_actions=3, hidden=(16, 8))
    params = net.init(jax.random.key(0), jnp.zeros((1, 4)))
    # 4→16, 16→8, 8→3, each with bias: 80 + 136 + 27 = 243
    assert num_params(params) == (4 * 16 + 16) + (16 * 8 + 8) + (8 * 3 + 3) == 243
    q = net.apply(params, jnp.ones((5, 4))).q_values
    assert q.shape == (5, 3) and q.dtype == jnp.float32
    assert net.apply(params, jnp.ones((4,))).q_values.shape == (3,)
    assert net.apply(params, jnp.ones((2, 5, 4))).q_values.shape == (2, 5, 3)


@pytest.mark.slow
def test_mlp_matches_numpy_forward_and_jit():
    net = MLPQNetwork(num_actions=3, hidden=(16, 8))
    params = net.init(jax.random.key(1), jnp.zeros((1, 4)))
    obs = np.random.default_rng(8).normal(size=(6, 4)).astype(np.float32)
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    h = np.maximum(obs @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"], 0.0)
    h = np.maximum(h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"], 0.0)
    expected = h @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"]
    q = net.apply(params, jnp.asarray(obs)).q_values
    np.testing.assert_allclose(q, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jit(net.apply)(params, jnp.asarray(obs)).q_values, q, rtol=1e-6)
    # Integer observations are cast to float32.
    q_int = net.apply(params, jnp.arange(4, dtype=jnp.int32)).q_values
    assert q_int.dtype == jnp.float32


# --- dueling head (Wang et al. 2016) -----------------------------------------------------------


def test_dueling_head_hand_worked():
    from jaxdqn.networks import dueling_head

    # V = 2, A = [1, 2, 6]: mean A = 3, so Q = 2 + [1, 2, 6] - 3 = [0, 1, 5].
    q = dueling_head(jnp.array([[2.0]]), jnp.array([[1.0, 2.0, 6.0]]))
    np.testing.assert_allclose(np.asarray(q), [[0.0, 1.0, 5.0]])
    # Shifting A by a constant leaves Q unchanged: the identifiability fix of the paper.
    q2 = dueling_head(jnp.array([[2.0]]), jnp.array([[11.0, 12.0, 16.0]]))
    np.testing.assert_allclose(np.asarray(q2), np.asarray(q))


@pytest.mark.slow
def test_dueling_network_streams():
    from jaxdqn.networks import DuelingQNetwork

    net = DuelingQNetwork(num_actions=6)
    obs = jax.random.randint(jax.random.PRNGKey(0), (3, 4, 84, 84), 0, 256).astype(jnp.uint8)
    params = net.init(jax.random.PRNGKey(1), obs)
    out, state = net.apply(params, obs, capture_intermediates=True)
    q = out.q_values
    assert q.shape == (3, 6) and q.dtype == jnp.float32
    p = params["params"]
    # Same torso as the Nature network, then two 512-unit streams: value (1) and advantage (A).
    assert p["Conv_0"]["kernel"].shape == (8, 8, 4, 32)
    assert p["value_hidden"]["kernel"].shape == p["advantage_hidden"]["kernel"].shape
    assert p["value_hidden"]["kernel"].shape == (3136, 512)
    assert p["value"]["kernel"].shape == (512, 1)
    assert p["advantage"]["kernel"].shape == (512, 6)
    value = np.asarray(state["intermediates"]["value"]["__call__"][0])  # [3, 1]
    advantage = np.asarray(state["intermediates"]["advantage"]["__call__"][0])  # [3, 6]
    q = np.asarray(q)
    # Q = V + A - mean A: the mean of Q over actions is V, and Q - V is the centred A.
    np.testing.assert_allclose(q.mean(-1), value[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(q - value, advantage - advantage.mean(-1, keepdims=True),
                               rtol=1e-5, atol=1e-5)  # fmt: skip


# --- Dopamine's Atari 100k dueling network (one shared 512 hidden layer) ------------------------

SHARED_DUELING_NAMES = {"Conv_0", "Conv_1", "Conv_2", "hidden", "advantage", "value"}


def same_pads(size, kernel, stride):
    """flax / TF SAME padding along one axis: out = ceil(size / stride), the padding that
    makes it, split with the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def test_same_pads_hand_worked():
    # 84 → 21 (pad 2 + 2), 21 → 11 (pad 1 + 2), 11 → 11 (pad 1 + 1): 11·11·64 = 7,744.
    assert same_pads(84, 8, 4) == (2, 2)
    assert same_pads(21, 4, 2) == (1, 2)
    assert same_pads(11, 3, 1) == (1, 1)


def numpy_conv(x, kernel, bias, stride, padding):
    """x [B, H, W, C] → [B, H', W', O], VALID or SAME (zero padding as `same_pads`)."""
    if padding == "SAME":
        k = kernel.shape[0]
        rows, cols = same_pads(x.shape[1], k, stride), same_pads(x.shape[2], k, stride)
        x = np.pad(x, ((0, 0), rows, cols, (0, 0)))
    return numpy_conv_valid(x, kernel, bias, stride)


def numpy_shared_dueling_forward(params, obs, padding):
    """uint8 frames → Q: the Nature torso (with `padding`), relu(hidden 512), then
    Q = value + advantage - mean(advantage)."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params["params"])
    x = np.transpose(np.asarray(obs, np.float64) / 255.0, (0, 2, 3, 1))  # [B, 84, 84, 4]
    relu = lambda v: np.maximum(v, 0.0)
    for i, stride in enumerate((4, 2, 1)):
        x = relu(numpy_conv(x, p[f"Conv_{i}"]["kernel"], p[f"Conv_{i}"]["bias"], stride, padding))
    x = x.reshape(x.shape[0], -1)  # [B, 3136] VALID, [B, 7744] SAME
    h = relu(x @ p["hidden"]["kernel"] + p["hidden"]["bias"])  # [B, 512]
    advantage = h @ p["advantage"]["kernel"] + p["advantage"]["bias"]  # [B, A]
    value = h @ p["value"]["kernel"] + p["value"]["bias"]  # [B, 1]
    return value + advantage - advantage.mean(axis=-1, keepdims=True)


def with_random_biases(params, seed):
    """Flax initialises biases to zero; random ones exercise the bias paths."""
    leaves, treedef = jax.tree.flatten_with_path(params)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    return jax.tree.unflatten(
        treedef,
        [
            0.1 * jax.random.normal(k, leaf.shape) if path[-1].key == "bias" else leaf
            for k, (path, leaf) in zip(keys, leaves, strict=True)
        ],
    )


@pytest.mark.parametrize("padding, features", [("VALID", 3136), ("SAME", 7744)])
def test_shared_dueling_param_shapes(padding, features):
    from jaxdqn.networks import SharedDuelingQNetwork

    params = jax.eval_shape(
        SharedDuelingQNetwork(num_actions=6, padding=padding).init,
        jax.random.key(0),
        jax.ShapeDtypeStruct((1,) + OBS_SHAPE, jnp.uint8),
    )
    p = params["params"]
    assert set(p) == SHARED_DUELING_NAMES
    assert p["Conv_0"]["kernel"].shape == (8, 8, 4, 32)
    assert p["Conv_1"]["kernel"].shape == (4, 4, 32, 64)
    assert p["Conv_2"]["kernel"].shape == (3, 3, 64, 64)
    # VALID: 84 → 20 → 9 → 7, 7·7·64 = 3,136; SAME: 84 → 21 → 11 → 11, 11·11·64 = 7,744.
    assert p["hidden"]["kernel"].shape == (features, 512)
    assert p["advantage"]["kernel"].shape == (512, 6)
    assert p["value"]["kernel"].shape == (512, 1)


@pytest.mark.slow
@pytest.mark.parametrize("padding", ["VALID", "SAME"])
def test_shared_dueling_matches_numpy_forward(padding):
    from jaxdqn.networks import SharedDuelingQNetwork

    net = SharedDuelingQNetwork(num_actions=6, padding=padding)
    params = net.init(jax.random.key(3), jnp.zeros((1,) + OBS_SHAPE, jnp.uint8))
    params = with_random_biases(params, 4)
    obs = random_frames(9, 2)
    q = net.apply(params, jnp.asarray(obs)).q_values
    assert q.shape == (2, 6) and q.dtype == jnp.float32
    expected = numpy_shared_dueling_forward(params, obs, padding)
    np.testing.assert_allclose(q, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_shared_dueling_is_xavier_uniform():
    """Every kernel ~ U(±sqrt(6 / (fan_in + fan_out))), variance 2 / (fan_in + fan_out), with
    a conv's fans counting its receptive field (flax, as Dopamine's FullRainbowNetwork); flax's
    default (LeCun normal, variance 1 / fan_in) would fail the spread check."""
    from jaxdqn.networks import SharedDuelingQNetwork

    params = SharedDuelingQNetwork(num_actions=6, padding="VALID").init(
        jax.random.key(5), jnp.zeros((1,) + OBS_SHAPE, jnp.uint8)
    )["params"]
    fans = {  # (fan_in, fan_out)
        "Conv_0": (8 * 8 * 4, 8 * 8 * 32),
        "Conv_1": (4 * 4 * 32, 4 * 4 * 64),
        "Conv_2": (3 * 3 * 64, 3 * 3 * 64),
        "hidden": (3136, 512),
        "advantage": (512, 6),
        "value": (512, 1),
    }
    for name, (fan_in, fan_out) in fans.items():
        w = np.asarray(params[name]["kernel"], np.float64).ravel()
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit, name
        if w.size >= 3072:  # enough draws for the spread to be tight (not the value head)
            assert np.abs(w).max() > 0.95 * limit, name  # uniform: draws reach the edge
            np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.05, err_msg=name)
        np.testing.assert_array_equal(params[name]["bias"], 0.0)


class PreDrQNatureQNetwork(nn.Module):
    """NatureQNetwork as it was before conv_padding existed (commit 47e9ee5^), copied here so
    that checkpoints saved then are known to load now."""

    num_actions: int

    @nn.compact
    def __call__(self, obs):
        x = jnp.moveaxis(obs.astype(jnp.float32) / 255.0, -3, -1)
        x = nn.relu(nn.Conv(32, (8, 8), strides=(4, 4), padding="VALID")(x))
        x = nn.relu(nn.Conv(64, (4, 4), strides=(2, 2), padding="VALID")(x))
        x = nn.relu(nn.Conv(64, (3, 3), strides=(1, 1), padding="VALID")(x))
        x = x.reshape(x.shape[:-3] + (-1,))
        x = nn.relu(nn.Dense(512)(x))
        return nn.Dense(self.num_actions)(x)


@pytest.mark.slow
def test_nature_default_keeps_its_checkpoint_layout():
    """The default NatureQNetwork (VALID) initialises the same tree — names Conv_0..2,
    Dense_0..1, shapes and values — as before conv_padding, and computes the same Q-values."""
    obs = jnp.asarray(random_frames(10, 2))
    new_net, old_net = NatureQNetwork(num_actions=7), PreDrQNatureQNetwork(num_actions=7)
    assert new_net.padding == "VALID"
    new, old = (net.init(jax.random.key(6), obs[:1]) for net in (new_net, old_net))
    assert set(new["params"]) == {"Conv_0", "Conv_1", "Conv_2", "Dense_0", "Dense_1"}
    assert jax.tree.structure(new) == jax.tree.structure(old)
    jax.tree.map(np.testing.assert_array_equal, new, old)
    old = with_random_biases(old, 7)
    np.testing.assert_allclose(new_net.apply(old, obs).q_values, old_net.apply(old, obs), rtol=1e-6)


@pytest.mark.parametrize("name", ["nature", "dueling", "shared_dueling"])
@pytest.mark.parametrize("padding, features", [("VALID", 3136), ("SAME", 7744)])
def test_registry_networks_read_conv_padding(name, padding, features):
    from jaxdqn.config import AgentConfig
    from jaxdqn.networks import NETWORKS

    net = NETWORKS[name](5, AgentConfig(network=name, conv_padding=padding))
    assert type(net).__name__ == {"nature": "NatureQNetwork", "dueling": "DuelingQNetwork",
                                  "shared_dueling": "SharedDuelingQNetwork"}[name]  # fmt: skip
    assert net.padding == padding and net.num_actions == 5
    params = jax.eval_shape(
        net.init, jax.random.key(0), jax.ShapeDtypeStruct((1,) + OBS_SHAPE, jnp.uint8)
    )["params"]
    hidden = {"nature": "Dense_0", "dueling": "value_hidden", "shared_dueling": "hidden"}[name]
    assert params[hidden]["kernel"].shape == (features, 512)
