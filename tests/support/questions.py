"""Questions the assessments tests share: a single choice, a true/false, and the two shapes whose answers
are lists of ids (ordering, matching)."""

from subgraphs.assessments.models import MatchPair, Option, Question, QuestionType

SINGLE = Question(
    id="q-single",
    type=QuestionType.SINGLE_CHOICE,
    prompt="2 + 2?",
    options=[Option(id="three", text="3"), Option(id="four", text="4", correct=True)],
)
TRUE_FALSE = Question(id="q-tf", type=QuestionType.TRUE_FALSE, prompt="The sky is blue.", correct_bool=True)
ORDERING = Question(
    id="q-order",
    type=QuestionType.ORDERING,
    prompt="Smallest first.",
    options=[Option(id="one", text="1"), Option(id="two", text="2"), Option(id="three", text="3")],
)
MATCHING = Question(
    id="q-match",
    type=QuestionType.MATCHING,
    prompt="Capitals.",
    pairs=[
        MatchPair(id="fr", prompt="France", match="Paris", match_id="right-paris"),
        MatchPair(id="de", prompt="Germany", match="Berlin", match_id="right-berlin"),
    ],
)
