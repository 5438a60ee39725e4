"""Column types that work on SQLite (the embedded default) and PostgreSQL/PostGIS alike."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Text, func
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

WGS84 = 4326


class PostGISGeometry(UserDefinedType[str]):
    """PostGIS ``geometry(<kind>, 4326)``: bound from EWKT, read back as WKT."""

    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", *_reflected: object) -> None:
        self.geometry_type = geometry_type.upper()

    def get_col_spec(self, **kw: Any) -> str:
        return f"geometry({self.geometry_type},{WGS84})"

    def bind_expression(self, bindvalue: Any) -> ColumnElement[Any]:
        return func.ST_GeomFromEWKT(bindvalue, type_=bindvalue.type)

    def column_expression(self, colexpr: Any) -> ColumnElement[Any]:
        return func.ST_AsText(colexpr, type_=colexpr.type)


class Geometry(TypeDecorator[BaseGeometry]):
    """A shapely geometry in EPSG:4326.

    On PostgreSQL the column is a native PostGIS ``geometry(<kind>, 4326)`` (GIST-indexed by the
    migrations); elsewhere it is WKT text, searched through the bounding-box columns that every
    spatial table carries plus an exact shapely test in the repository.
    """

    impl = Text
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(PostGISGeometry(self.geometry_type))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: BaseGeometry | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return f"SRID={WGS84};{value.wkt}"
        return value.wkt

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        return shapely.from_wkt(value)


def _register_reflection() -> None:
    """Let SQLAlchemy reflect PostGIS ``geometry`` columns (migrations compare them)."""
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("geometry", PostGISGeometry)


_register_reflection()
