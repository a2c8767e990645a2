"""CartPole learns through a host-stepped backend (gymnasium's CartPole stepped from Python
between the iteration's jitted pieces). A file of its own, so a test worker runs it beside
the envpool-xla learning tests (pyproject: --dist loadfile)."""

import pytest

from tests.test_learning import check_cartpole_learns_early, check_cartpole_solved

pytestmark = pytest.mark.slow  # end-to-end: trains


@pytest.mark.long  # the same learner as envpool-xla's; the host path's steps and logs are
def test_cartpole_learns_three_seeds_gymnasium(tmp_path):  # checked in tests/test_backends.py
    check_cartpole_learns_early(tmp_path, "gymnasium")


@pytest.mark.long
def test_cartpole_solved_three_seeds_gymnasium(tmp_path):
    check_cartpole_solved(tmp_path, "gymnasium")
