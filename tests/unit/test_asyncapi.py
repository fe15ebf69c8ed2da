"""The event catalog (docs/events/asyncapi.yaml) is a valid AsyncAPI 3 document and says what the code does.

The code is read, not run: each `subgraphs/<service>/events.py` says which event types go to which topic
(the functions that build an `Event` and hand it to the outbox with a `Topic`), and every call of those
functions in the service says which metadata fields an event type carries. Every topic, event type and
metadata field must be in the catalog, and the catalog may not promise what the code does not emit (except
on planned topics).
"""

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from coursegraph.events.envelope import Event, Topic

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "docs" / "events" / "asyncapi.yaml"
SUBGRAPHS = REPO / "subgraphs"
# The parameters of an event-building function that go into the envelope or the key, not the metadata.
NOT_METADATA = {"key", "course_id", "user_id"}


# --- the catalog ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CATALOG.read_text())
    return document


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow local `$ref`s (JSON pointers into this document) until a node is not a reference."""
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        assert isinstance(reference, str) and reference.startswith("#/"), reference
        target: Any = document
        for part in reference[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            assert isinstance(target, dict) and part in target, f"unresolvable $ref {reference}"
            target = target[part]
        node = target
    return node


def references(node: Any) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                found += references(value)
    elif isinstance(node, list):
        for item in node:
            found += references(item)
    return found


def channel_by_address(catalog: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {channel["address"]: (name, channel) for name, channel in catalog["channels"].items()}


def message_payload_part(catalog: dict[str, Any], message: dict[str, Any], prop: str) -> dict[str, Any]:
    """The schema the message gives `prop` on top of the envelope (payload: allOf [Envelope, {...}])."""
    payload = resolve(catalog, message["payload"])
    for part in payload["allOf"][1:]:  # the first is the envelope itself
        part = resolve(catalog, part)
        if prop in part.get("properties", {}):
            schema: dict[str, Any] = resolve(catalog, part["properties"][prop])
            return schema
    raise AssertionError(f"{message['name']}: no `{prop}` beyond the envelope")


def documented_types(catalog: dict[str, Any], channel: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Event type -> message, for the messages of one channel."""
    messages = [resolve(catalog, ref) for ref in channel["messages"].values()]
    return {message["name"]: message for message in messages}


# --- the code ------------------------------------------------------------------------------------


@dataclass
class Emitter:
    """A function in an events.py that builds an Event for one topic."""

    service: str
    name: str
    topic: str
    event_types: list[str]  # the types it can build (an enum's members, or one constant)
    type_param: str | None  # the parameter carrying the type, if it is an enum
    positional: list[str]  # its positional parameters, in order


@dataclass
class EmittedType:
    topic: str
    metadata: set[str] = field(default_factory=set)
    open_metadata: bool = False  # some call passes **metadata we cannot read
    call_sites: int = 0


def _topics() -> dict[str, str]:
    return {member.name: member.value for member in Topic}


def _string_constants(module: ast.Module) -> dict[str, str]:
    constants = {}
    for node in module.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
    return constants


def _enums(module: ast.Module) -> dict[str, list[str]]:
    """`class XEventType(StrEnum)` members, by class name."""
    enums: dict[str, list[str]] = {}
    for node in module.body:
        if isinstance(node, ast.ClassDef) and node.name.endswith("EventType"):
            enums[node.name] = [
                str(statement.value.value)
                for statement in node.body
                if isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Constant)
            ]
    return enums


def emitters() -> list[Emitter]:
    found = []
    topics = _topics()
    for path in sorted(SUBGRAPHS.glob("*/events.py")):
        module = ast.parse(path.read_text())
        enums, constants = _enums(module), _string_constants(module)
        for function in (n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            builds = [
                call
                for call in ast.walk(function)
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Event"
            ]
            used_topics = {
                topics[node.attr]
                for node in ast.walk(function)
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "Topic"
                and node.attr in topics
            }
            if not builds:
                continue
            assert len(used_topics) == 1, f"{path}:{function.name} should hand its Event to one topic"
            type_expr = next(k.value for k in builds[0].keywords if k.arg == "event_type")
            params = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
            annotations = {p.arg: p.annotation.id for p in params if isinstance(p.annotation, ast.Name)}
            assert isinstance(type_expr, ast.Name), (
                f"{path}:{function.name}: event_type={ast.dump(type_expr)}"
            )
            if type_expr.id in constants:
                types, type_param = [constants[type_expr.id]], None
            elif annotations.get(type_expr.id) in enums:
                types, type_param = enums[annotations[type_expr.id]], type_expr.id
            else:
                raise AssertionError(f"{path}:{function.name}: cannot tell the event type of {type_expr.id}")
            found.append(
                Emitter(
                    service=path.parent.name,
                    name=function.name,
                    topic=used_topics.pop(),
                    event_types=types,
                    type_param=type_param,
                    positional=[p.arg for p in [*function.args.posonlyargs, *function.args.args]],
                )
            )
    return found


def emitted() -> dict[str, EmittedType]:
    """Every event type the code can emit, with the metadata fields its call sites set."""
    types: dict[str, EmittedType] = {}
    by_service: dict[str, list[Emitter]] = defaultdict(list)
    for emitter in emitters():
        by_service[emitter.service].append(emitter)
        for event_type in emitter.event_types:
            types.setdefault(event_type, EmittedType(topic=emitter.topic))
    for service, service_emitters in by_service.items():
        named = {emitter.name: emitter for emitter in service_emitters}
        for path in sorted((SUBGRAPHS / service).glob("*.py")):
            module = ast.parse(path.read_text())
            literal_dicts = _literal_dicts(module)
            for call in ast.walk(module):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                    continue
                target = named.get(call.func.id)
                if target is None:
                    continue
                call_types = _call_types(target, call)
                for event_type in call_types:
                    record = types[event_type]
                    record.call_sites += 1
                    for keyword in call.keywords:
                        if keyword.arg is None:
                            # **common: readable when `common` is a dict literal in this module.
                            spread = keyword.value
                            if isinstance(spread, ast.Name) and spread.id in literal_dicts:
                                record.metadata |= literal_dicts[spread.id]
                            else:
                                record.open_metadata = True
                        elif keyword.arg not in NOT_METADATA and keyword.arg != target.type_param:
                            record.metadata.add(keyword.arg)
    return types


def _literal_dicts(module: ast.Module) -> dict[str, set[str]]:
    """`name = {"a": ..., "b": ...}` assignments anywhere in a module: name -> keys (unambiguous only)."""
    found: dict[str, set[str]] = {}
    ambiguous: set[str] = set()
    for node in ast.walk(module):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            keys = {
                k.value for k in node.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
            if len(keys) != len(node.value.keys):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name):
                    if target.id in found and found[target.id] != keys:
                        ambiguous.add(target.id)
                    found[target.id] = keys
    return {name: keys for name, keys in found.items() if name not in ambiguous}


def _call_types(emitter: Emitter, call: ast.Call) -> list[str]:
    """The event types one call can emit; [] when it passes the type on from a variable (a helper)."""
    if emitter.type_param is None:
        return emitter.event_types
    argument: ast.expr | None = next((k.value for k in call.keywords if k.arg == emitter.type_param), None)
    if argument is None and emitter.type_param in emitter.positional:
        index = emitter.positional.index(emitter.type_param)
        argument = call.args[index] if index < len(call.args) else None
    if isinstance(argument, ast.Attribute) and argument.attr in emitter.event_types:
        return [argument.attr]
    return []


def helper_call_sites() -> dict[str, set[str]]:
    """Metadata passed through a helper that takes the type as a parameter (e.g. `_lifecycle_event(
    AssessmentEventType.X, ...)` calling `assessment_event(event_type, title=...)`): type -> fields."""
    fields: dict[str, set[str]] = defaultdict(set)
    by_service: dict[str, list[Emitter]] = defaultdict(list)
    for emitter in emitters():
        by_service[emitter.service].append(emitter)
    for service, service_emitters in by_service.items():
        named = {e.name: e for e in service_emitters}
        for path in sorted((SUBGRAPHS / service).glob("*.py")):
            module = ast.parse(path.read_text())
            helpers: dict[str, set[str]] = {}
            for function in ast.walk(module):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                params = {p.arg for p in [*function.args.args, *function.args.kwonlyargs]}
                for call in ast.walk(function):
                    if (
                        isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Name)
                        and (inner := named.get(call.func.id)) is not None
                        and inner.type_param is not None
                        and not _call_types(inner, call)
                        and call.args
                        and isinstance(call.args[0], ast.Name)
                        and call.args[0].id in params
                    ):
                        helpers[function.name] = {
                            k.arg for k in call.keywords if k.arg is not None and k.arg not in NOT_METADATA
                        }
            for call in ast.walk(module):
                if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in helpers:
                    for argument in call.args:
                        if isinstance(argument, ast.Attribute) and argument.attr.isupper():
                            fields[argument.attr] |= helpers[call.func.id]
    return fields


# --- the AsyncAPI 3 structure ------------------------------------------------------------------------


def test_the_catalog_is_an_asyncapi_3_document(catalog: dict[str, Any]) -> None:
    assert str(catalog["asyncapi"]).startswith("3.0.")
    assert catalog["info"]["title"] and catalog["info"]["version"]
    for name, server in catalog["servers"].items():
        assert server["protocol"] == "kafka" and server["host"], name
    for reference in references(catalog):
        resolve(catalog, {"$ref": reference})  # every $ref points at something
    for name, channel in catalog["channels"].items():
        assert channel["address"], name
        for message in channel["messages"].values():
            assert message["$ref"].startswith("#/components/messages/"), name
    for name, operation in catalog["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/"), name
        # AsyncAPI 3: an operation's messages are messages of its own channel.
        for message in operation.get("messages", []):
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
    for name, message in catalog["components"]["messages"].items():
        assert message["name"] and "payload" in message, name


def test_every_topic_and_its_dead_letter_topic_is_in_the_catalog(catalog: dict[str, Any]) -> None:
    addresses = channel_by_address(catalog)
    for topic in Topic:
        assert topic.value in addresses, topic
        assert topic.dlq in addresses, topic.dlq
        _, dlq = addresses[topic.dlq]
        assert set(documented_types(catalog, dlq)) == {"DEAD_LETTER"}
    assert set(addresses) == {t.value for t in Topic} | {t.dlq for t in Topic}, "no channel the code lacks"


def test_the_envelope_schema_is_the_event_model(catalog: dict[str, Any]) -> None:
    envelope = catalog["components"]["schemas"]["Envelope"]
    assert set(envelope["properties"]) == set(Event.model_fields)
    # Every field is always serialized (absent values as null), so every field is required on the wire.
    assert set(envelope["required"]) == set(Event.model_fields)
    assert envelope["properties"]["event_id"]["format"] == "uuid"
    assert envelope["properties"]["timestamp"]["format"] == "date-time"


def test_every_message_is_an_envelope_with_its_event_type_and_a_kafka_key(catalog: dict[str, Any]) -> None:
    for address, (_, channel) in channel_by_address(catalog).items():
        if address.endswith(".dlq"):
            continue
        for event_type, message in documented_types(catalog, channel).items():
            payload = resolve(catalog, message["payload"])
            assert resolve(catalog, payload["allOf"][0]) is catalog["components"]["schemas"]["Envelope"]
            assert message_payload_part(catalog, message, "event_type") == {"const": event_type}
            assert message_payload_part(catalog, message, "metadata")["type"] == "object"
            keyed = [resolve(catalog, trait) for trait in message.get("traits", [])] + [message]
            keys = [part["bindings"]["kafka"]["key"] for part in keyed if "bindings" in part]
            assert len(keys) == 1 and keys[0]["type"] == "string", f"{event_type}: one documented key"


def test_every_topic_has_a_producer(catalog: dict[str, Any]) -> None:
    sent = {
        resolve(catalog, operation["channel"])["address"]
        for operation in catalog["operations"].values()
        if operation["action"] == "send"
    }
    assert {t.value for t in Topic} <= sent


# --- the catalog says what the code does -----------------------------------------------------------


def test_every_event_type_the_code_emits_is_documented_on_its_topic(catalog: dict[str, Any]) -> None:
    code = emitted()
    assert {"COURSE_ENROLLED", "USER_REGISTERED"} <= set(code), "the code reader finds the emitters"
    by_topic: dict[str, set[str]] = defaultdict(set)
    for event_type, record in code.items():
        by_topic[record.topic].add(event_type)
    for address, (_, channel) in channel_by_address(catalog).items():
        if address.endswith(".dlq"):
            continue
        documented = set(documented_types(catalog, channel))
        missing = by_topic.get(address, set()) - documented
        assert not missing, f"{address}: emitted but not in the catalog: {sorted(missing)}"
        if channel.get("x-status") != "planned":
            extra = documented - by_topic.get(address, set())
            assert not extra, f"{address}: in the catalog but never emitted: {sorted(extra)}"


def test_every_metadata_field_the_code_sets_is_documented(catalog: dict[str, Any]) -> None:
    code, through_helpers = emitted(), helper_call_sites()
    messages = {m["name"]: m for m in catalog["components"]["messages"].values()}
    unread = []
    for event_type, record in code.items():
        sets = record.metadata | through_helpers.get(event_type, set())
        if record.call_sites == 0 and not sets:
            unread.append(event_type)  # emitted only through a path this reader cannot follow
            continue
        assert event_type in messages, f"{event_type} is not in the catalog"
        schema = message_payload_part(catalog, messages[event_type], "metadata")
        documented = set(schema.get("properties", {}))
        assert sets <= documented, f"{event_type}: undocumented metadata {sorted(sets - documented)}"
        if not record.open_metadata:
            assert documented == sets, f"{event_type}: documented but never set {sorted(documented - sets)}"
            assert set(schema.get("required", [])) == sets, f"{event_type}: every field it sets is required"
    assert not unread, f"no call site found for {unread}: emit them with the type spelled out (Enum.MEMBER)"
