"""The session: run directory held for the run, and the signals that stop it."""

import os
import signal

import pytest

from jaxdqn.options import RunOptions
from jaxdqn.presets import cartpole
from jaxdqn.rundir import RunLockedError
from jaxdqn.session import StopFlag, catch_signals, open_run_dir


def test_first_signal_sets_the_flag_second_stops_now_and_handlers_come_back(capsys):
    before = signal.getsignal(signal.SIGTERM)
    with catch_signals(StopFlag(), None) as stop:
        assert not stop
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.signal == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before
    assert "SIGTERM: finishing this chunk, then saving a checkpoint" in capsys.readouterr().out


def test_run_dir_is_locked_while_open(tmp_path):
    config, options = cartpole(), RunOptions(run_dir=str(tmp_path), run_name="r")
    with open_run_dir(config, options, resume=False) as run_dir:
        assert run_dir == tmp_path / "r"
        with pytest.raises(RunLockedError):
            with open_run_dir(config, options, resume=True):
                pass
    with open_run_dir(config, options, resume=True) as run_dir:  # released on exit
        assert run_dir == tmp_path / "r"
