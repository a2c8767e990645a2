"""jaxdqn.chunks: the same chunks from an env stepped inside jit and from Python, and the CPU
strategies' loops equal to `lax.scan`, on a toy iteration with hand-checkable numbers."""

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdqn import chunks
from jaxdqn.backends import Backend, Step, host_backend
from jaxdqn.backends.step import HostEnv

S, E = 2, 3


@flax.struct.dataclass
class ToyState:
    obs: jax.Array  # [S, E] int32
    total: jax.Array  # [] float32
    handle: jax.Array  # [] int32


def _toy_step(count, actions):
    """The toy env's step `count` (1, 2, …): obs (action + count) mod 5, reward obs."""
    obs = (actions + count) % 5
    reward = obs.astype(np.float32)
    over = obs == 0
    return Step(obs, reward, over, over & False, reward, over)


class ToyHostEnv(HostEnv):
    num_envs, num_actions = S * E, 5

    def __init__(self):
        self.count = 0

    def reset(self):
        return np.zeros(S * E, np.int32)

    def step(self, actions):
        self.count += 1
        return _toy_step(self.count, np.asarray(actions, np.int32))


def toy_jit_backend() -> Backend:
    def step(handle, actions):
        return handle + 1, _toy_step(handle + 1, actions.astype(jnp.int32))

    return Backend(reset=lambda: (np.zeros(S * E, np.int32), np.zeros((), np.int32)),
                   step=step, in_jit=True, saves_env_state=False, close=lambda: None)  # fmt: skip


def act(obs):
    return (obs * 2 + 1) % 5


def act_randomly(obs):
    return (obs + 3) % 5


STEPS_PER_ITERATION = chunks.ENV_STEPS_UNROLL + 2


def toy_body() -> chunks.Body:
    def choose(state, act_fn):
        return state, act_fn(state.obs), jnp.full((S,), 0.5)

    def observe(state, actions, parameter, step, handle):
        assert step.obs.shape == (S, E)  # the seeds' envs, split
        total = state.total + jnp.sum(jnp.asarray(step.reward))
        out = {"reward": jnp.asarray(step.reward), "parameter": parameter}
        return state.replace(obs=jnp.asarray(step.obs), total=total, handle=handle), out

    def learn(state):
        return state.replace(total=state.total * 0.5), {"loss": state.total}

    def iteration(state, env_step, learn, loop):
        # More env steps than chunks.ENV_STEPS_UNROLL: a lax.scan inside jit, a Python loop
        # on the host.
        state, out = loop(lambda s: env_step(s, act), state, STEPS_PER_ITERATION)
        state, losses = learn(state)
        return state, {**out, **losses}

    return chunks.Body(choose, observe, learn, iteration, act, act_randomly, lambda x: x)


def fresh(backend: Backend) -> ToyState:
    obs, handle = backend.reset()
    return ToyState(jnp.asarray(obs).reshape(S, E), jnp.zeros((), jnp.float32),
                    jnp.asarray(handle))  # fmt: skip


@pytest.mark.parametrize("unroll", [1, 8])
def test_in_jit_and_host_chunks_agree(unroll):
    """Warm-up then a learning chunk: identical metrics and state from both kinds of backend,
    whatever the loop (scan, or straight-line when unrolled whole)."""
    results = []
    for backend in (toy_jit_backend(), host_backend(ToyHostEnv())):
        warmup, run = chunks.make_chunks(toy_body(), backend, chunks.repeat_strategy(unroll))
        state, warm = warmup(fresh(backend), 4)
        state, learned = run(state, 5)
        results.append((state.obs, state.total, warm, learned))
    (jit_obs, jit_total, jit_warm, jit_run), (host_obs, host_total, host_warm, host_run) = results
    np.testing.assert_array_equal(jit_obs, host_obs)
    np.testing.assert_allclose(jit_total, host_total, rtol=0, atol=0)
    for a, b in ((jit_warm, host_warm), (jit_run, host_run)):
        jax.tree_util.tree_map(np.testing.assert_array_equal, a, b)
    assert jit_warm["reward"].shape == (4, S, E) and jit_run["loss"].shape == (5,)
    assert jit_run["reward"].shape == (5, STEPS_PER_ITERATION, S, E)


def test_warmup_by_hand():
    """Step 1 from obs 0 with act_randomly: action 3, obs (3 + 1) mod 5 = 4 in every env;
    step 2: action (4 + 3) mod 5 = 2, obs (2 + 2) mod 5 = 4 again: total 2 × 6 × 4 = 48."""
    backend = host_backend(ToyHostEnv())
    warmup, _ = chunks.make_chunks(toy_body(), backend, chunks.repeat_strategy(1))
    state, out = warmup(fresh(backend), 2)
    np.testing.assert_array_equal(state.obs, np.full((S, E), 4))
    assert float(state.total) == 48.0 and out["reward"].shape == (2, S, E)


def test_straight_line_repeat_equals_scan():
    def fn(x):
        return x * 2 + 1, x

    reference = jax.lax.scan(lambda x, _: fn(x), jnp.float32(1), length=3)
    np.testing.assert_array_equal(reference[1], [1, 3, 7])
    for unroll in (1, 2, 3):  # 3: unrolled whole, straight-line code
        out = jax.jit(lambda x, u=unroll: chunks.repeat(u, fn, x, 3))(jnp.float32(1))
        jax.tree_util.tree_map(np.testing.assert_array_equal, out, reference)
