"""The FerretDB the project builds finds documents by `_id` through its index (ADR 0014).

FerretDB v1.24's SQLite backend creates the `_id` index on `_ferretdb_sjson->"_id"` but looks documents
up by `_ferretdb_sjson->'$._id'`, an expression SQLite cannot match to that index: every lookup, update
and delete by `_id` scanned the table. The infra build patches the lookup expression
(coursegraph_cli/infra/services.py). This test asks SQLite itself, on the tables of the running FerretDB,
how it answers the expression the built FerretDB uses, and how it answered the original one.

The build also pushes `{_id: {$in: [...]}}` down to that index (upstream decoded every document for it):
the server's own `explain` says how it answers one.
"""

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pymongo
import pytest
from bson import ObjectId
from pymongo.collection import Collection

from coursegraph_cli.infra.services import FERRETDB_ID_COLUMN, FerretDB

pytestmark = pytest.mark.integration

COLUMN = "_ferretdb_sjson"


def lookup_expression(source: str) -> str:
    """The `_id` expression a FerretDB source tree looks documents up by, as SQL."""
    match = re.search(r"IDColumn = DefaultColumn \+ [`\"](.+)[`\"]\n", source)
    assert match is not None, "FerretDB's IDColumn is where the patch expects it"
    return COLUMN + match.group(1)


@pytest.fixture
def collection_file(mongodb_url: str) -> Iterator[tuple[Path, list[ObjectId]]]:
    ferretdb = FerretDB()
    if ferretdb.external:
        pytest.fail("this test reads the data files of the FerretDB `coursegraph infra up` runs")
    name = f"id_index_{uuid.uuid4().hex[:8]}"
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(mongodb_url)
    ids = client[name]["things"].insert_many([{"n": n} for n in range(200)]).inserted_ids
    try:
        yield ferretdb.dir / "data" / f"{name}.sqlite", ids
    finally:
        client.drop_database(name)
        client.close()


def plan(database: Path, expression: str) -> str:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        (table,) = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'things_%'"
        ).fetchone()
        rows = connection.execute(
            f'EXPLAIN QUERY PLAN SELECT {COLUMN} FROM "{table}" WHERE {expression} = ?',  # noqa: S608
            ('"x"',),
        ).fetchall()
    return " ".join(str(row[-1]) for row in rows)


def test_lookups_by_id_use_the_id_index(
    collection_file: tuple[Path, list[ObjectId]], mongodb_url: str
) -> None:
    database, ids = collection_file
    built = (FerretDB().build_dir / "src" / FERRETDB_ID_COLUMN[0]).read_text()
    patched = lookup_expression(built)

    assert re.search(r"USING INDEX \S+__id_", plan(database, patched)), plan(database, patched)
    original = lookup_expression(FERRETDB_ID_COLUMN[1] + "\n")
    assert plan(database, original).startswith("SCAN"), "upstream's expression scans (what was patched)"

    # And the running server answers through it: the last document and a missing id are found (or not).
    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(mongodb_url) as client:
        things: Collection[dict[str, object]] = client[database.stem]["things"]
        found = things.find_one({"_id": ids[-1]})
        assert found is not None and found["n"] == 199
        assert things.find_one({"_id": ObjectId()}) is None


def test_batches_by_id_use_the_id_index(mongodb_url: str) -> None:
    name = f"id_in_{uuid.uuid4().hex[:8]}"
    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(mongodb_url) as client:
        db: pymongo.database.Database[dict[str, object]] = client[name]
        try:
            ids = db["things"].insert_many([{"n": n} for n in range(200)]).inserted_ids
            wanted = [ids[-1], ids[7], ObjectId()]
            explained = db.command("explain", {"find": "things", "filter": {"_id": {"$in": wanted}}})
            assert explained["filterPushdown"] is True, explained
            plan = " ".join(explained["queryPlanner"]["Plan"])
            assert re.search(r"USING INDEX \S+__id_", plan), explained
            found = sorted(int(str(d["n"])) for d in db["things"].find({"_id": {"$in": wanted}}))
            assert found == [7, 199]
            # What is not a list of ids is answered as before: by FerretDB, not pushed down.
            other = db.command("explain", {"find": "things", "filter": {"n": {"$in": [1, 2]}}})
            assert other["filterPushdown"] is False
            assert sorted(int(str(d["n"])) for d in db["things"].find({"n": {"$in": [1, 2]}})) == [1, 2]
        finally:
            client.drop_database(name)
