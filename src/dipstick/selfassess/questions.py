"""The day-one questionnaire: at most three questions per leak cause, five answers each, the
meaning of every answer written beside it.

Data, in one place: the web form, the file reader, the scoring and docs/self-assessment.md all
read this table. Answers run from 1 (the leak is plainly there) to 5 (no sign of it), so one
scoring rule (:mod:`dipstick.selfassess.score`) holds for every cause. Each question asks
about the evidence the cause's indicator would measure (PRODUCT.md), so an owner's answer is a
guess at the same light that measured data later gives.
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, str, str, str, str]   # what answer 1, 2, 3, 4, 5 means

    def meaning(self, answer: int) -> str:
        return self.answers[answer - 1]


def _q(qid: str, text: str, *answers: str) -> Question:
    assert len(answers) == len(SCALE), qid
    return Question(qid, text, (answers[0], answers[1], answers[2], answers[3], answers[4]))


QUESTIONNAIRE: dict[str, tuple[Question, ...]] = {
    "perception": (
        _q("asked", "When did you last ask the groups who use the service what value it gives "
           "them?",
           "Never, or more than a year ago", "Within the last year",
           "Within the last six months", "Within the last quarter, informally",
           "Within the last quarter, with a pulse check or survey"),
        _q("value_seen", "What do they say about its value?",
           "Most say it gives them little or nothing", "Many have doubts or complain",
           "Mixed: some value it, some do not", "Most value it, with a few wishes",
           "They clearly value it and would miss it"),
        _q("opinion_trend", "How has their opinion moved over the last year?",
           "Clearly worse", "Somewhat worse", "The same, or we cannot tell",
           "Somewhat better", "Clearly better"),
    ),
    "training": (
        _q("trained", "How many of the people who need the service are trained to use it?",
           "Almost nobody (under 20 %)", "A minority (20–50 %)", "About half to two-thirds",
           "Most (two-thirds to 90 %)", "Nearly everyone, new joiners included"),
        _q("how_to", "How often do people ask the service desk or colleagues how to do basic "
           "things with it?",
           "All the time: it is the commonest ticket", "Often", "Sometimes", "Rarely",
           "Almost never"),
        _q("adoption", "Do people use what the service was delivered for?",
           "Hardly: they work around it", "Only a few basic features",
           "About half of what was intended", "Most of it", "Fully, as intended"),
    ),
    "change": (
        _q("last_change", "How did the last significant change (a release, a reorganisation, a "
           "new process) land?",
           "Badly: work stopped or people went back to old ways",
           "Rough: complaints and tickets for weeks", "Some disruption, settled within weeks",
           "Minor hiccups", "Smoothly: people were ready"),
        _q("communicated", "Are the people affected told in advance what changes, why, and "
           "where to get help?",
           "No: they find out when it happens", "Rarely", "Sometimes", "Usually",
           "Always, with support ready on the day"),
        _q("failed_changes", "How often do changes to the service fail or have to be rolled "
           "back?",
           "Most of them", "Often (about one in four)", "Sometimes (about one in ten)",
           "Rarely", "Almost never"),
    ),
    "retirement": (
        _q("licences_used", "How many of the paid licences or seats are actually used?",
           "Under a quarter", "A quarter to a half", "A half to three-quarters",
           "Three-quarters to 90 %", "Over 90 %"),
        _q("duplicate", "Does another service do the same job?",
           "Yes, and most people already use the other one",
           "Yes, and both are used about equally", "Partly: they overlap",
           "Only a little overlap", "No: it is the only one"),
        _q("support_ends", "How long will its vendor or technology still be supported?",
           "Support has ended", "It ends within a year", "It ends in one to two years",
           "It ends in two to four years", "For years to come"),
    ),
    "employee_experience": (
        _q("satisfaction", "How satisfied are the internal users with the service and its "
           "support?",
           "Very dissatisfied", "Dissatisfied", "Neither", "Satisfied", "Very satisfied"),
        _q("lost_time", "How much working time do users lose to outages, slowness or "
           "workarounds?",
           "Hours every week", "About an hour a week", "A few minutes a day", "Rarely any",
           "Practically none"),
        _q("fixed", "When something breaks, how quickly is it fixed, and does it stay fixed?",
           "Slowly, and it often comes back", "Slowly", "In time, but often reopened",
           "Quickly", "Quickly, and it stays fixed"),
    ),
    "customer_experience": (
        _q("satisfaction", "How satisfied are the external customers whose journeys run on the "
           "service?",
           "Very dissatisfied", "Dissatisfied", "Neither", "Satisfied", "Very satisfied"),
        _q("drop_off", "Do customers give up part-way through a journey that runs on it?",
           "Many do, and more than before", "Many do", "Some do", "Few do", "Almost none do"),
        _q("complaints", "How are customer complaints about it developing?",
           "Rising fast", "Rising", "Steady", "Falling", "Rare, and falling"),
    ),
    "alignment": (
        _q("outcome", "Can you name the business outcome the service supports, and its owner?",
           "No", "Vaguely, and nobody owns it", "Yes, but that outcome is over or on hold",
           "Yes: an active outcome with an owner",
           "Yes, and we review the service's part in it with that owner"),
        _q("kpi", "Is that outcome's KPI on target?",
           "Far off, and getting worse", "Far off", "Somewhat off, or nobody measures it",
           "Close to target", "On or above target"),
        _q("worth_it", "Would the business pay for the service at its current cost if asked "
           "today?",
           "Certainly not", "Probably not", "Unsure", "Probably", "Certainly"),
    ),
    "flow": (
        _q("waiting", "In the work the service supports, how much of the elapsed time is "
           "waiting (queues, approvals, handovers)?",
           "Almost all of it (over 90 %)", "Most of it (75–90 %)",
           "A half to three-quarters", "Under half", "Little: work flows"),
        _q("rework", "How often does work come back to be corrected or redone?",
           "Most items", "Often (about one in four)", "Sometimes (about one in ten)",
           "Rarely", "Almost never"),
        _q("mapped", "Has the value stream been mapped and its waits tackled?",
           "No, and nobody knows where the time goes", "No", "Mapped once, not acted on",
           "Mapped and improved", "Mapped, improved and measured regularly"),
    ),
}


def question(cause: str, qid: str) -> Question | None:
    return next((q for q in QUESTIONNAIRE.get(cause, ()) if q.id == qid), None)
