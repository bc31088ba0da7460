"""`tune_trials` auto's budget rule on given measures (no training): how many trials fit, and that a search
it allows stays within the stated share of the run's time (the rule on real data: tests/unit/test_tune.py)."""

from __future__ import annotations

import itertools

import pytest

from components.tune.budget import AUTO, AUTO_TRIALS, MIN_TRIALS, SEARCH_SHARE, auto_trials, requested_trials
from components.tune.task import AutoTrials


def test_tune_trials_is_a_count_or_auto_and_nothing_else() -> None:
    assert [requested_trials(value) for value in ("auto", " AUTO ", "0", "3", 5)] == [AUTO, AUTO, 0, 3, 5]
    for bad in ("-1", "2.5", "", "some", "1e3"):
        with pytest.raises(ValueError, match=f"tune_trials {bad!r}: expected a whole number of trials"):
            requested_trials(bad)


@pytest.mark.parametrize(
    ("probe_s", "first_epoch_s", "epochs", "elapsed_s", "trials"),
    [
        (2.0, 0.5, 5, 60.0, AUTO_TRIALS),  # small data: a 4 s trial after a minute of validate and transform
        (4.0, 1.0, 5, 60.0, 2),  # an 8 s trial: two fit in a quarter of the run
        (5.0, 3.0, 5, 60.0, 0),  # a 17 s trial: one would fit, and one trial is no search
        (30.0, 20.0, 10, 600.0, 0),  # big data: training is most of the run
        (2.0, 0.5, 5, 0.0, 0),  # the run has only begun: nothing to weigh a search against
    ],
)
def test_auto_runs_the_trials_that_fit_its_share_of_the_run(probe_s, first_epoch_s, epochs, elapsed_s, trials):
    decision = auto_trials(probe_s, first_epoch_s, epochs, elapsed_s)
    assert decision.trials == trials
    assert decision.trial_s == pytest.approx(probe_s + (epochs - 1) * first_epoch_s)
    assert (f"{trials} trials" if trials else "no search") in decision.line()
    assert decision.params()["auto.trials"] == str(trials) and float(decision.params()["auto.search_share"]) == 0.25


def test_a_search_auto_allows_takes_at_most_its_share_of_the_run() -> None:
    allowed = 0
    for probe_s, first_epoch_s, epochs, elapsed_s in itertools.product(
        (0.5, 2.0, 10.0, 60.0), (0.1, 0.5, 2.0), (1, 3, 10, 30), (0.0, 30.0, 120.0, 900.0, 3600.0)
    ):
        decision = auto_trials(probe_s, min(first_epoch_s, probe_s), epochs, elapsed_s)
        search_s = probe_s + decision.trials * decision.trial_s
        run_s = elapsed_s + decision.trial_s + search_s  # so far, train, and the search itself
        assert decision.trials == 0 or MIN_TRIALS <= decision.trials <= AUTO_TRIALS
        if decision.trials:
            allowed += 1
            assert search_s <= SEARCH_SHARE * run_s + 1e-9, decision
        else:  # none: even MIN_TRIALS would have gone over the share
            over_s = probe_s + MIN_TRIALS * decision.trial_s
            assert over_s > SEARCH_SHARE * (elapsed_s + decision.trial_s + over_s), decision
    assert 0 < allowed < 4 * 3 * 4 * 5  # the grid holds both outcomes


def test_measures_auto_cannot_budget_from_are_refused() -> None:
    for probe_s, first_epoch_s, epochs, elapsed_s in ((1.0, 2.0, 3, 10.0), (1.0, 0.5, 0, 10.0), (1.0, 0.5, 3, -1.0)):
        with pytest.raises(ValueError, match="tune_trials auto: cannot budget from"):
            auto_trials(probe_s, first_epoch_s, epochs, elapsed_s)


def test_auto_refuses_the_search_settings_a_search_would_refuse() -> None:
    with pytest.raises(ValueError, match="1 <= parallel <= trials"):
        AutoTrials(parallel_trials=0)
    with pytest.raises(ValueError, match="tune_algorithm 'grid'"):
        AutoTrials(algorithm="grid")
    assert AutoTrials(parallel_trials=8).parallel_trials == 8  # more than auto's trials: capped when it searches
