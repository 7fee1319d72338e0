"""The day's dose (firmware.safety.dose.DoseBook): a rolling 24 hours on the wall clock,
and the rule for when heat is available again."""

from __future__ import annotations

import pytest

from firmware import limits as L
from firmware.safety.dose import FLUSH_CEM43, DoseBook

DAY = L.DOSE_WINDOW_S


def test_the_day_counts_stored_entries_and_what_is_not_stored_yet():
    book = DoseBook([(100.0, 2.0), (200.0, 3.0)])
    book.add(0.5)
    assert book.day_cem43(300.0) == pytest.approx(5.5)


def test_entries_leave_the_window_after_24_hours():
    book = DoseBook([(100.0, 2.0), (200.0, 3.0)])
    assert book.day_cem43(100.0 + DAY + 1.0) == pytest.approx(3.0)
    assert book.day_cem43(200.0 + DAY + 1.0) == 0.0


def test_the_dose_is_handed_to_the_store_in_steps_and_all_of_it_at_the_end():
    book = DoseBook()
    book.add(FLUSH_CEM43 / 2)
    assert book.take_pending(10.0) is None
    book.add(FLUSH_CEM43)
    assert book.take_pending(11.0) == pytest.approx(1.5 * FLUSH_CEM43)
    book.add(0.01)
    assert book.take_pending(12.0, force=True) == pytest.approx(0.01)
    assert book.day_cem43(12.0) == pytest.approx(1.5 * FLUSH_CEM43 + 0.01)


def test_heat_is_vetoed_at_the_limit_and_a_new_session_needs_the_margin_free():
    book = DoseBook([(0.0, L.DOSE_LIMIT_CEM43 - L.DOSE_RESUME_CEM43)])
    assert not book.reached(10.0) and not book.spent(10.0)
    book.add(0.5)
    assert not book.reached(10.0) and book.spent(10.0)
    book.add(0.5)
    assert book.reached(10.0)


def test_heat_is_available_when_enough_entries_have_left_the_window():
    book = DoseBook([(100.0, 5.0), (200.0, 9.5), (300.0, 0.5)])  # 15.0 in all
    assert book.available_at(400.0) == pytest.approx(100.0 + DAY)  # 10.0 left: enough free
    assert book.available_at(100.0 + DAY + 1.0) is None


def test_heat_available_now_is_none():
    assert DoseBook([(0.0, 3.0)]).available_at(10.0) is None
