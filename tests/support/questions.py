"""Questions the assessments tests share: an ordering and a matching question, the two shapes whose
answers are lists of ids."""

from subgraphs.assessments.models import MatchPair, Option, Question, QuestionType

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
