"""The ``unrendered_figures`` fixture of tests/conftest.py: it skips the rasterisation only of figures written
under the test's own ``tmp_path``; anything else (the shared quick run's report) is rendered, and an empty
figure is still refused."""
from __future__ import annotations

import pytest

from opdcheck.paper_checks.figures import EmptyFigureError, plt, save_figure


def _line_figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [1, 2])
    return fig


def test_a_figure_under_tmp_path_is_a_placeholder(unrendered_figures, tmp_path):
    save_figure(_line_figure(), tmp_path / "a.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) < 100


def test_a_figure_elsewhere_is_rendered(unrendered_figures, tmp_path_factory):
    # negative control: outside the test's tmp_path (another folder, as the quick run's report is) the PNG is real
    other = tmp_path_factory.mktemp("elsewhere")
    save_figure(_line_figure(), other / "b.png")
    data = (other / "b.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000


def test_an_empty_figure_is_still_refused(unrendered_figures, tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(EmptyFigureError):
        save_figure(fig, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()
