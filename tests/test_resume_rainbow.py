"""Resume with the Rainbow parts on CartPole — noisy dueling categorical network, double-Q
categorical loss, 3-step returns, prioritised replay (its sum tree is part of the replay state
saved) — equals the uninterrupted run bit for bit. A file of its own (pyproject: --dist loadfile
spreads files over the test workers)."""

import pytest

from tests.test_checkpoint import COMMON, check_resume_equals_uninterrupted_run, run_then_resume

pytestmark = pytest.mark.slow  # end-to-end: trains

N = 500  # agent steps per half; learning starts at 250
# β held constant: like --learning-rate-end, an annealed β follows the run's length, which the
# resume here extends from N to 2N.
RAINBOW = ["--network", "mlp_dueling", "--noisy", "--head", "categorical", "--loss",
           "categorical_double_q", "--v-min", "0", "--v-max", "100", "--n-step", "3",
           "--prioritized", "--importance-exponent-start", "0.5",
           "--importance-exponent-end", "0.5", "--learning-starts", "250",
           "--replay-capacity", "2000"]  # fmt: skip


@pytest.mark.long  # resume equality for DQN stays in CI (test_checkpoint)
def test_rainbow_parts_resume_exactly(tmp_path_factory, tmp_path):
    resumed = run_then_resume(tmp_path_factory.mktemp("runs"), COMMON + RAINBOW, n=N)
    check_resume_equals_uninterrupted_run(resumed, tmp_path, n=N)
