"""The predict command's output pieces: the table and the progress bar (no stack needed)."""

from __future__ import annotations

import io

from skinlesion.predict import Outcome, Progress, format_table, model_note


def _ok(name: str, malignant: float) -> Outcome:
    body = {"label": "malignant" if malignant >= 0.5 else "benign",
            "probabilities": {"benign": 1 - malignant, "malignant": malignant}}  # fmt: skip
    return Outcome(name, body=body)


def test_table_aligns_columns_and_shows_errors_in_place() -> None:
    table = format_table([
        _ok("a.jpg", 0.8123),
        _ok("long/path/b.png", 0.05),
        Outcome("c.jpg", error_code="bad_request", error_message="The body is not an image.", status=400),
        Outcome("d.jpg", error_code="file_error", error_message="no such file", downscaled=False),
    ])  # fmt: skip
    assert table.splitlines() == [
        "FILE             LABEL      MALIGNANT   BENIGN",
        "a.jpg            malignant     81.2 %   18.8 %",
        "long/path/b.png  benign         5.0 %   95.0 %",
        "c.jpg            ERROR      HTTP 400: The body is not an image.",
        "d.jpg            ERROR      no such file",
    ]


def test_downscaled_files_are_marked() -> None:
    outcome = _ok("photo.jpg", 0.3)
    outcome.downscaled = True
    assert "photo.jpg (downscaled)  benign" in format_table([outcome])


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_for_a_terminal_and_several_files() -> None:
    tty, pipe = _Tty(), io.StringIO()
    bar = Progress(4, tty, enabled=True)
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        bar.step(name)
    bar.close()
    assert "\r[###############...............] 2/4 b.jpg" in tty.getvalue()
    assert "4/4 d.jpg" in tty.getvalue() and tty.getvalue().endswith("\r")
    for stream, total, enabled in ((pipe, 10, True), (_Tty(), 3, True), (_Tty(), 10, False)):
        quiet = Progress(total, stream, enabled=enabled)
        quiet.step("x.jpg")
        quiet.close()
        assert stream.getvalue() == ""


def test_model_note_names_the_threshold_the_labels_use() -> None:
    answered = _ok("a.jpg", 0.35)
    answered.body |= {"threshold": 0.2884, "model": {"version": "v7"}}
    note = model_note([Outcome("x.jpg", error_message="no such file"), answered])
    assert note == "Model v7: malignant when the malignant score is at least 28.8 %.\n"
    assert model_note([Outcome("x.jpg", error_message="no such file")]) == ""
