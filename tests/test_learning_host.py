"""CartPole learns through a host-stepped backend (gymnasium's CartPole stepped from Python
between the iteration's jitted pieces). A file of its own: the longest test of the suite, run
by one test worker while the other takes the rest (pyproject: --dist loadfile)."""

import pytest

from tests.test_learning import check_cartpole_learns

pytestmark = pytest.mark.slow  # end-to-end: trains


def test_cartpole_learns_three_seeds_gymnasium(tmp_path):
    check_cartpole_learns(tmp_path, "gymnasium")
