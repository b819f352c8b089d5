"""SQL against the stack's PostgreSQL from inside its own container (psql on the local socket)."""

from __future__ import annotations

from dataclasses import dataclass

from tests.e2e.live import Stack

PASSWORD_FILE = "/run/pap/secrets/db_password"  # ARCHITECTURE.md, "Image contracts", database
SOCKET_DIR = "/run/postgresql"


@dataclass(frozen=True)
class Database:
    stack: Stack
    user: str
    name: str

    def query(self, sql: str) -> list[list[str]]:
        """Rows of `sql` (unaligned, tab separated); raises with psql's message on error."""
        command = (
            f'PGPASSWORD="$(cat {PASSWORD_FILE})" exec psql -h {SOCKET_DIR} -U "$1" -d "$2" '
            '-v ON_ERROR_STOP=1 -At -F "\t" -c "$3"'
        )
        result = self.stack.exec(
            self.stack.one("database"), ["sh", "-c", command, "psql", self.user, self.name, sql]
        )
        if result.exit_code != 0:
            raise RuntimeError(f"psql failed ({result.exit_code}): {result.output.strip()[:500]}")
        return [line.split("\t") for line in result.output.splitlines() if line]

    def tables(self) -> list[str]:
        return [row[0] for row in self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )]  # fmt: skip

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Per table: row count and an md5 over every row's text, in a stable order."""
        parts = [
            f"SELECT '{table}', count(*)"  # noqa: S608 - table names come from pg_tables
            ", md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
            f'FROM "{table}" t'
            for table in self.tables()
        ]
        return {row[0]: (int(row[1]), row[2]) for row in self.query(" UNION ALL ".join(parts))}
