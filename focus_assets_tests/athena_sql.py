"""Is a text SQL that Athena (engine version 3, Trino) runs? The check behind every statement the
`aws` deployment sends: moto accepts any text as a query, so without it the moto tests would pass
DuckDB-only SQL that fails on AWS.

A statement is parsed with sqlfluff's `athena` dialect (sqlfluff pinned in pyproject.toml), then
held to rules sqlfluff does not enforce, each checked against Trino's grammar
(core/trino-grammar/.../SqlBase.g4) or documentation:

- one statement per text (StartQueryExecution runs one);
- no DuckDB syntax that sqlfluff's grammar lets through: `::` casts, ILIKE, `[...]` list literals
  and `type[]`, `{...}` struct literals, DISTINCT ON, a trailing comma in the select list, unnest()
  outside FROM, backquoted identifiers in a query, CREATE VIEW IF NOT EXISTS; and, named here
  rather than left to sqlfluff's parse error, GROUP BY ALL without grouping elements, ORDER BY ALL
  and QUALIFY;
- every function is one of Athena's (fixtures/athena_functions.txt: Trino's list of functions);
- every type named in a query is one of Trino's (fixtures/athena_types.txt).

`athena_problems(sql)` says what is wrong (nothing: valid); `assert_athena_sql(statements)` fails
with every invalid statement and its problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from sqlfluff.core import FluffConfig, Linter
from sqlfluff.core.parser import KeywordSegment, StringParser

FIXTURES = Path(__file__).parent / "fixtures"

# Trino syntax that sqlfluff parses as a function call, though Trino's list of functions does not
# name it (SqlBase.g4: rowConstructor, groupingOperation, groupingElement; unnest is a relation,
# checked below).
SYNTAX_CALLS = {"row", "grouping", "rollup", "cube", "unnest"}

# DuckDB functions a view or query written on DuckDB first tends to use, with what Athena has
# instead: the message says what to write. None of them is in Athena's list (tested).
DUCKDB_FUNCTIONS = {
    "strftime": "date_format(ts, format) or format_datetime(ts, format)",
    "strptime": "date_parse(text, format)",
    "epoch_ms": "from_unixtime(ms / 1000.0)",
    "epoch": "to_unixtime(ts)",
    "read_parquet": "a table in the Glue catalog",
    "read_csv": "a table in the Glue catalog",
    "struct_pack": "CAST(ROW(...) AS ROW(name type, ...))",
    "list": "array_agg(x)",
    "list_value": "ARRAY[...]",
    "list_sort": "array_sort(a)",
    "list_distinct": "array_distinct(a)",
    "list_contains": "contains(a, x)",
    "list_transform": "transform(a, x -> ...)",
    "list_filter": "filter(a, x -> ...)",
    "string_agg": "array_join(array_agg(x), separator) or listagg(x, separator) WITHIN GROUP (ORDER BY x)",
    "regexp_matches": "regexp_like(text, pattern)",
    "ifnull": "coalesce(a, b)",
    "today": "current_date",
    "columns": "the columns by name",
    "len": "length(text) or cardinality(array)",
}

# GROUP BY ALL is Trino's set quantifier and needs grouping elements after it: followed by one of
# these (or nothing) it is DuckDB's "group by every other column".
_AFTER_A_GROUP_BY = {"ORDER", "HAVING", "LIMIT", "OFFSET", "FETCH", "WINDOW", "UNION", "EXCEPT", "INTERSECT", ")", ";"}
_DDL = {"create_table_statement", "alter_table_statement", "msck_repair_table_statement"}  # Hive's, not Trino's


def _names(file: str) -> frozenset[str]:
    lines = (FIXTURES / file).read_text().splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


ATHENA_FUNCTIONS = _names("athena_functions.txt")
ATHENA_TYPES = _names("athena_types.txt")


def sqlfluff_athena(corrected: bool = True) -> Linter:
    """A sqlfluff parser of the `athena` dialect. `corrected`: with its one known error fixed.
    sqlfluff 4.5.0 spells the file format of `STORED AS PARQUET` "PARQUETFILE", so it refuses the
    DDL Athena's guide documents (CREATE TABLE: `STORED AS PARQUET`); the fix is to this parser's
    own copy of the dialect. The raw templater: SQL text is not a Jinja template."""
    config = FluffConfig(overrides={"dialect": "athena", "templater": "raw"})
    if corrected:
        config.get("dialect_obj").replace(
            ParquetKeywordSegment=StringParser("PARQUET", KeywordSegment, type="file_format")
        )
    return Linter(config=config)


_PARSER = sqlfluff_athena()


def _walk(segment, ancestors: tuple = ()) -> Iterator[tuple[object, tuple]]:
    """Every segment of the tree with the types of the segments around it, outermost first."""
    yield segment, ancestors
    for child in segment.segments:
        yield from _walk(child, ancestors + (segment.get_type(),))


def _code(segments) -> list:
    return [s for s in segments if s.is_code]


def _function_name(segment) -> str:
    """A call's function name, lower case, without quotes or a catalog and schema."""
    return segment.raw.split(".")[-1].strip('"`').lower()


def _token_problems(tokens: list[tuple[str, str]]) -> Iterator[str]:
    """Constructs found in the sequence of words (text upper-cased, segment type), whether sqlfluff
    parsed them or not."""
    for i, (token, kind) in enumerate(tokens):
        following = [text for text, _ in tokens[i + 1 : i + 4]]
        if token == "ORDER" and following[:2] == ["BY", "ALL"]:
            yield "ORDER BY ALL is DuckDB's (Trino sorts by expressions): write ORDER BY 1, 2, ..."
        after_all = following[2] if len(following) > 2 else ";"  # the end of the text ends the clause too
        if token == "GROUP" and following[:2] == ["BY", "ALL"] and after_all in _AFTER_A_GROUP_BY:
            yield "GROUP BY ALL without grouping elements is DuckDB's: write GROUP BY 1, 2, ..."
        if token == "QUALIFY":
            yield "QUALIFY is DuckDB's: filter a window function's result in an outer query"
        if token == "DISTINCT" and following[:2] == ["ON", "("]:
            yield "DISTINCT ON is DuckDB's: keep the first row with row_number() OVER (...) in a subquery"
        # a DuckDB function in text sqlfluff could not parse (parsed calls are checked on the tree)
        if kind == "word" and token.lower() in DUCKDB_FUNCTIONS and following[:1] == ["("]:
            yield f"{token.lower()}() is DuckDB's: write {DUCKDB_FUNCTIONS[token.lower()]}"


def _tree_problems(tree) -> Iterator[str]:
    for segment, ancestors in _walk(tree):
        kind = segment.get_type()
        in_ddl = bool(_DDL & set(ancestors))
        if kind == "casting_operator":
            yield "`::` casts are DuckDB's: write CAST(x AS type)"
        elif kind == "keyword" and segment.raw.upper() == "ILIKE":
            yield "ILIKE is DuckDB's: write lower(x) LIKE lower(pattern)"
        elif kind == "array_literal" and (not ancestors or ancestors[-1] != "typed_array_literal"):
            yield f"{segment.raw} is DuckDB's list literal or array type: write ARRAY[...] or array(type)"
        elif kind == "object_literal":
            yield f"{segment.raw[:40]} is DuckDB's struct literal: write CAST(ROW(...) AS ROW(name type, ...))"
        elif not segment.segments and segment.raw.startswith("`") and not in_ddl:
            yield f"{segment.raw} is a backquoted identifier: Athena's queries take double quotes"
        elif kind == "select_clause" and _code(segment.segments)[-1].get_type() == "comma":
            yield "a comma after the last column of the select list (DuckDB allows it, Trino does not)"
        elif kind == "create_view_statement" and "IF NOT EXISTS" in " ".join(
            s.raw.upper() for s in _code(segment.segments)
        ):
            yield "CREATE VIEW IF NOT EXISTS is DuckDB's: write CREATE OR REPLACE VIEW"
        elif kind == "function_name":
            name = _function_name(segment)
            if name == "unnest" and "from_expression" not in ancestors:
                yield "unnest() in the select list is DuckDB's: CROSS JOIN UNNEST(array) AS t(x)"
            elif name in DUCKDB_FUNCTIONS:
                yield f"{name}() is DuckDB's: write {DUCKDB_FUNCTIONS[name]}"
            elif name not in ATHENA_FUNCTIONS and name not in SYNTAX_CALLS:
                yield f"{name}() is not a function of Athena engine version 3 (fixtures/athena_functions.txt)"
        elif kind == "data_type" and not in_ddl:
            base = _code(segment.raw_segments)[0].raw.lower()
            if base not in ATHENA_TYPES:
                hint = ": write varchar" if base in ("string", "text") else ""
                yield f"type {segment.raw} is not one of Athena's query types{hint}"


@cache
def athena_problems(sql: str) -> tuple[str, ...]:
    """Why Athena would refuse `sql`, one sentence each; empty when it is valid."""
    parsed = _PARSER.parse_string(sql)
    problems = [f"sqlfluff (athena): {v.desc()}" for v in parsed.violations]
    if parsed.tree is None:
        return tuple(problems) or ("sqlfluff (athena): nothing parsed",)
    statements = [s for s in parsed.tree.segments if s.get_type() == "statement"]
    if len(statements) != 1:
        problems.append(f"{len(statements)} statements: Athena runs one per query")
    words = [
        (s.raw.upper(), s.get_type()) for s in parsed.tree.raw_segments if s.is_code and not re.match(r"['\"`]", s.raw)
    ]  # no literal or quoted name
    problems += _token_problems(words)
    problems += _tree_problems(parsed.tree)
    return tuple(dict.fromkeys(problems))  # once each, in order


def assert_athena_sql(statements: Iterable[str], where: str = "") -> None:
    """Fail with each statement Athena would refuse and why (`where`: what sent them)."""
    refused = {sql: athena_problems(sql) for sql in dict.fromkeys(statements)}
    refused = {sql: problems for sql, problems in refused.items() if problems}
    if refused:
        report = "\n\n".join(f"{sql.strip()}\n  -> " + "\n  -> ".join(problems) for sql, problems in refused.items())
        raise AssertionError(f"not Athena SQL{' (' + where + ')' if where else ''}:\n\n{report}")
