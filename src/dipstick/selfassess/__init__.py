"""Day one: a self-assessment per service and leak cause, for an organisation with no data yet.

The questionnaire (:mod:`.questions`) is data; scoring (:mod:`.score`) is pure; the package's
file is read by :mod:`.read`. The check fills each cause that no measured data could judge
with its self-assessed light, marked ``basis: self-assessed`` (docs/self-assessment.md).
"""

from __future__ import annotations

from dipstick.selfassess.questions import QUESTIONNAIRE, SCALE, Question, question
from dipstick.selfassess.read import read_self_assessment
from dipstick.selfassess.score import (
    FILE,
    LEAK_BELOW,
    OK_FROM,
    WEB,
    Answer,
    assess,
    fill_unknown,
    grade,
    latest,
)

__all__ = ["FILE", "LEAK_BELOW", "OK_FROM", "QUESTIONNAIRE", "SCALE", "WEB", "Answer",
           "Question", "assess", "fill_unknown", "grade", "latest", "question",
           "read_self_assessment"]
