"""What every Strawberry subgraph shares: the schema factory, error codes, the request context."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors, ParserCache, ValidationCache
from strawberry.fastapi import BaseContext
from strawberry.federation.schema_directives import ListSize
from strawberry.types import ExecutionContext

from coursegraph.errors import CourseGraphError, ErrorCode, FieldError
from coursegraph.input_boundary import TextOnlyInput
from coursegraph.pagination import Page
from coursegraph.security import ANONYMOUS, Actor

logger = logging.getLogger(__name__)

# The Guild's composition accepts Federation up to v2.9 (DESIGN §9).
FEDERATION_VERSION: Literal["2.9"] = "2.9"

# On every connection field: the router's demand control counts a page's edges as its `first` (default
# included) instead of its assumed list size, so a page of 100 costs ten times a page of 10.
PAGE_SIZE = ListSize(slicing_arguments=["first"], sized_fields=["edges"])  # type: ignore[call-arg]  # UNSET defaults


@strawberry.federation.type(shareable=True, description="A problem with the input that the client can fix.")
class UserError:
    code: str
    field: str | None
    message: str

    @classmethod
    def from_field_error(cls, error: FieldError) -> "UserError":
        return cls(code=str(error.code), field=error.field, message=error.message)


@strawberry.federation.type(shareable=True, description="Where a page of a connection ends (Relay).")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, page: Page[Any]) -> "PageInfo":
        return cls(
            has_next_page=page.has_next,
            has_previous_page=False,  # forward pagination only (first/after)
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        )


@dataclass
class ServiceContext(BaseContext):
    """Per-request context; subgraphs extend it with their DataLoaders and store handles."""

    actor: Actor = ANONYMOUS

    def __post_init__(self) -> None:
        super().__init__()


def with_error_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Give every error an `extensions.code` from the fixed set; hide internals of unexpected ones."""
    return [_with_code(error) for error in errors]


def _with_code(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, CourseGraphError):
        extensions: dict[str, Any] = {"code": original.code.value}
        if original.details:
            extensions["details"] = original.details
        return _copy(error, original.message, extensions)
    if original is None or isinstance(original, GraphQLError):
        # Parse and validation errors, and variable coercion (graphql-core's own refusal of an input value,
        # e.g. an integer past 2^53 for a Float, which the router lets through): the client's input.
        code = (error.extensions or {}).get("code", ErrorCode.BAD_USER_INPUT.value)
        return _copy(error, error.message, {**(error.extensions or {}), "code": code})
    # Not masked by MaskInternalErrors (raised outside the operation); process_errors logged it.
    return _copy(error, "Internal error.", {"code": ErrorCode.INTERNAL.value})


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def _unexpected(error: GraphQLError) -> bool:
    return error.original_error is not None and not isinstance(
        error.original_error, (CourseGraphError, GraphQLError)
    )


class MaskInternalErrors(MaskErrors):
    """Unexpected exceptions reach clients as "Internal error." with code INTERNAL, on every transport."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_unexpected, error_message="Internal error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return _copy(error, self.error_message, {"code": ErrorCode.INTERNAL.value})


class FederatedSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Runs before masking. Expected failures are part of the API, not incidents: log the rest.
        for error in errors:
            if _unexpected(error):
                logger.error("unexpected error in %s", error.path, exc_info=error.original_error)


def build_schema(
    *,
    query: type,
    mutation: type | None = None,
    subscription: type | None = None,
    types: Iterable[type] = (),
) -> FederatedSchema:
    return FederatedSchema(
        query=query,
        mutation=mutation,
        subscription=subscription,
        types=list(types),
        federation_version=FEDERATION_VERSION,
        # The caches live at module level (keyed by maxsize): fresh extensions per request share them.
        extensions=[
            MaskInternalErrors,
            TextOnlyInput,  # every string argument of every field: text, or BAD_USER_INPUT (ADR 0029)
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
        ],
    )


def export_sdl(schema: strawberry.Schema) -> str:
    """The subgraph SDL as the router composes it (what `_service { sdl }` answers)."""
    result = schema.execute_sync("{ _service { sdl } }")
    if result.errors or not result.data:
        raise RuntimeError(f"cannot export the schema: {result.errors}")
    return str(result.data["_service"]["sdl"]).rstrip() + "\n"
