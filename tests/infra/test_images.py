"""The data-tier and proxy images (infra/images/*) built and run hardened on a real Docker engine.

Each container runs as the platform runs it: read-only root, all capabilities dropped, no-new-privileges,
user "<UID>:0", tmpfs for the writable paths, its files in a /run/pap volume seeded the way the Docker
provider's `uploads` write them (root-owned, secrets 0440).
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
import ssl
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.dockerkit import (
    ROOT,
    BuiltImage,
    Container,
    DockerKit,
    SeedFile,
    exec_in,
    health_status,
    image_user,
    last_instruction,
    wait_for_health,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

IMAGES = {"postgres": 10010, "redis": 10020, "nginx": 10030, "backup": 10040}
DB_USER = "pap"
DB_NAME = "pap"
DB_PASSWORD = "correct-horse-battery-staple-1"  # a test secret; the stack generates its own
APP_USER = "pap_app"
APP_PASSWORD = "app-role-test-password-5d2c"
REDIS_PASSWORD = "redis-test-password-7f3a"
TABLE_ROWS = 500
DUMP_NAME = re.compile(rf"^{DB_NAME}-\d{{8}}T\d{{6}}Z\.dump$")


@pytest.fixture(scope="session")
def images(kit: DockerKit) -> dict[str, BuiltImage]:
    built = {name: kit.build(name, ROOT / "infra" / "images" / name) for name in IMAGES}
    for name, image in built.items():
        print(f"{name}: {image.size_bytes() / 1e6:.1f} MB, built in {image.seconds:.1f} s")
    return built


@pytest.fixture(scope="session")
def data_network(kit: DockerKit) -> str:
    return kit.network("data")


def user_of(name: str) -> str:
    return f"{IMAGES[name]}:0"


def seeded_volume(kit: DockerKit, image: BuiltImage, what: str, files: list[SeedFile], user: str) -> str:
    volume = kit.volume(what)
    kit.seed(image, volume, files, user=user)
    return volume


# ---------------------------------------------------------------- every image


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_user_is_fixed_non_root_with_group_0(images: dict[str, BuiltImage], name: str) -> None:
    assert image_user(images[name]) == user_of(name)
    instruction = last_instruction(ROOT / "infra" / "images" / name / "Dockerfile")
    assert instruction == f"USER {user_of(name)}", instruction


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_has_a_healthcheck_and_no_add(images: dict[str, BuiltImage], name: str) -> None:
    healthcheck = images[name].image.attrs["Config"].get("Healthcheck") or {}
    assert healthcheck.get("Test") == ["CMD", "pap-healthcheck"]
    dockerfile = (ROOT / "infra" / "images" / name / "Dockerfile").read_text()
    assert not re.search(r"^\s*ADD\s", dockerfile, re.MULTILINE)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_image_has_no_setuid_or_setgid_program(
    kit: DockerKit, images: dict[str, BuiltImage], name: str
) -> None:
    assert kit.privileged_programs(images[name]) == []


# ---------------------------------------------------------------- postgres


@dataclass(frozen=True)
class Database:
    container: Container
    host: str

    def sql(self, statement: str, database: str = DB_NAME) -> str:
        """Runs SQL through the local socket (scram, like every connection); returns the unaligned output."""
        code, output = self.sql_as(DB_USER, DB_PASSWORD, statement, database)
        assert code == 0, output
        return output.strip()

    def sql_as(self, user: str, password: str, statement: str, database: str = DB_NAME) -> tuple[int, str]:
        """Runs SQL as `user` through the local socket; returns psql's exit code and output."""
        return exec_in(
            self.container,
            [
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "/run/postgresql",
                "-U",
                user,
                "-d",
                database,
                "-c",
                statement,
            ],
            environment={"PGPASSWORD": password},
        )


def database_files(kit: DockerKit, images: dict[str, BuiltImage], what: str) -> str:
    """A files volume with both passwords, as the stack seeds the database container."""
    return seeded_volume(
        kit,
        images["postgres"],
        what,
        [
            SeedFile("/run/pap/secrets/db_password", DB_PASSWORD.encode() + b"\n"),
            SeedFile("/run/pap/secrets/db_app_password", APP_PASSWORD.encode() + b"\n"),
        ],
        user_of("postgres"),
    )


def run_database(
    kit: DockerKit,
    images: dict[str, BuiltImage],
    what: str,
    files: str,
    data: str,
    network: str,
    **environment: str,
) -> Container:
    return kit.run(
        images["postgres"],
        what,
        user=user_of("postgres"),
        command=["-c", "shared_buffers=32MB", "-c", "max_connections=40"],
        environment={"POSTGRES_USER": DB_USER, "POSTGRES_DB": DB_NAME, **environment},
        volumes={files: "/run/pap", data: "/var/lib/postgresql/data"},
        tmpfs=("/tmp", "/run/postgresql"),
        network=network,
    )


@pytest.fixture(scope="session")
def database(kit: DockerKit, images: dict[str, BuiltImage], data_network: str) -> Database:
    container = run_database(
        kit,
        images,
        "postgres",
        database_files(kit, images, "postgres-files"),
        kit.volume("postgres-data"),
        data_network,
        POSTGRES_APP_USER=APP_USER,
    )
    wait_for_health(container, timeout=120)
    return Database(container=container, host=kit.name("postgres"))


def psql_from_another_container(
    kit: DockerKit, images: dict[str, BuiltImage], database: Database, network: str, password: str
) -> tuple[int, str]:
    return kit.oneshot(
        images["backup"],
        [
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT current_user || ' ' || (SELECT setting FROM pg_settings "
            "WHERE name = 'password_encryption')",
        ],
        entrypoint=["psql"],
        user=user_of("backup"),
        network=network,
        environment={
            "PGHOST": database.host,
            "PGUSER": DB_USER,
            "PGDATABASE": DB_NAME,
            "PGPASSWORD": password,
            "PGSSLMODE": "disable",
            "PGCONNECT_TIMEOUT": "5",
        },
    )


def test_postgres_accepts_a_scram_login_over_the_network(
    kit: DockerKit, images: dict[str, BuiltImage], database: Database, data_network: str
) -> None:
    code, output = psql_from_another_container(kit, images, database, data_network, DB_PASSWORD)
    assert (code, output.strip()) == (0, f"{DB_USER} scram-sha-256"), output
    stored = database.sql("SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = current_user")
    assert stored == "SCRAM-SHA-256$"


def test_postgres_refuses_a_wrong_password(
    kit: DockerKit, images: dict[str, BuiltImage], database: Database, data_network: str
) -> None:
    code, output = psql_from_another_container(kit, images, database, data_network, "wrong-password")
    assert code != 0
    assert "password authentication failed" in output, output


def test_postgres_has_no_trust_rule_and_a_private_data_directory(database: Database) -> None:
    hba = database.sql("SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules")
    assert hba == "scram-sha-256"
    code, output = exec_in(database.container, ["stat", "-c", "%u:%g %a", "/var/lib/postgresql/data"])
    assert (code, output.strip()) == (0, "10010:0 700")
    assert database.sql("SHOW listen_addresses") == "*"
    assert database.sql("SHOW shared_buffers") == "32MB"  # -c settings from the command reach the server


def test_postgres_runs_queries_without_the_jit_libraries(database: Database) -> None:
    # The image leaves LLVM out; a query costly enough for JIT must still run (JIT simply unavailable).
    assert database.sql("SELECT pg_jit_available()") == "f"
    assert database.sql("SET jit_above_cost = 0; SELECT sum(g) FROM generate_series(1, 1000) g") == "500500"


def as_app(database: Database, statement: str) -> tuple[int, str]:
    return database.sql_as(APP_USER, APP_PASSWORD, statement)


def test_postgres_app_role_is_an_unprivileged_login(database: Database) -> None:
    code, output = as_app(
        database,
        "SELECT current_user, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname = current_user",
    )
    assert (code, output.strip()) == (0, f"{APP_USER}|f|f|f|f|f"), output
    stored = database.sql(f"SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = '{APP_USER}'")  # noqa: S608
    assert stored == "SCRAM-SHA-256$"
    code, output = database.sql_as(APP_USER, "wrong-password", "SELECT 1")
    assert code != 0 and "password authentication failed" in output, output


@pytest.fixture
def owner_table(database: Database) -> Iterator[str]:
    """A table the owner creates after init (as the migrations do), dropped again: the backup tests count
    the database's tables."""
    database.sql("CREATE TABLE app_rows (id serial PRIMARY KEY, note text NOT NULL)")
    yield "app_rows"
    database.sql("DROP TABLE IF EXISTS app_rows")


def test_postgres_app_role_writes_rows_of_tables_the_owner_creates_later(
    database: Database, owner_table: str
) -> None:
    code, output = as_app(
        database,
        f"INSERT INTO {owner_table} (note) VALUES ('a'), ('b');"  # noqa: S608 - a fixed test table name
        f"UPDATE {owner_table} SET note = 'c' WHERE note = 'b';"
        f"DELETE FROM {owner_table} WHERE note = 'a';"
        f"SELECT string_agg(note, ',') FROM {owner_table}",
    )
    assert (code, output.strip()) == (0, "c"), output


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("CREATE TABLE app_own (id int)", "permission denied for schema public"),
        ("DROP TABLE app_rows", "must be owner of table app_rows"),
        ("ALTER TABLE app_rows ADD COLUMN extra int", "must be owner of table app_rows"),
        ("TRUNCATE app_rows", "permission denied for table app_rows"),
        ("CREATE ROLE intruder", "permission denied to create role"),
        ("CREATE DATABASE intruder", "permission denied to create database"),
    ],
)
def test_postgres_app_role_cannot_change_the_schema(
    database: Database, owner_table: str, statement: str, refusal: str
) -> None:
    code, output = as_app(database, statement)
    assert code != 0 and refusal in output, output
    assert database.sql(f"SELECT count(*) FROM pg_tables WHERE tablename = '{owner_table}'") == "1"  # noqa: S608


def test_postgres_restarts_without_configuring_the_app_role_again(database: Database) -> None:
    database.container.restart(timeout=30)
    wait_for_health(database.container, timeout=60)
    logs = database.container.logs(stdout=False, stderr=True).decode(errors="replace")
    assert logs.count("configuring the application role") == 1, logs[-2000:]
    assert as_app(database, "SELECT current_user")[1].strip() == APP_USER


def test_postgres_adds_the_app_role_to_a_database_initialised_without_it(
    kit: DockerKit, images: dict[str, BuiltImage], data_network: str
) -> None:
    files, data = database_files(kit, images, "postgres-upgrade-files"), kit.volume("postgres-upgrade-data")
    before = run_database(kit, images, "postgres-before", files, data, data_network)
    wait_for_health(before, timeout=120)
    earlier = Database(container=before, host=kit.name("postgres-before"))
    earlier.sql("CREATE TABLE existing (id int); INSERT INTO existing VALUES (1)")
    before.stop(timeout=30)
    after = run_database(kit, images, "postgres-after", files, data, data_network, POSTGRES_APP_USER=APP_USER)
    wait_for_health(after, timeout=120)
    upgraded = Database(container=after, host=kit.name("postgres-after"))
    code, output = as_app(upgraded, "INSERT INTO existing VALUES (2); SELECT sum(id) FROM existing")
    assert (code, output.strip()) == (0, "3"), output


# ---------------------------------------------------------------- redis


@pytest.fixture(scope="session")
def redis(kit: DockerKit, images: dict[str, BuiltImage], data_network: str) -> Container:
    config = (
        'bind 0.0.0.0\nport 6379\nprotected-mode yes\ndir /data\ndaemonize no\nlogfile ""\n'
        f"requirepass {REDIS_PASSWORD}\nappendonly yes\nmaxmemory 32mb\nmaxmemory-policy allkeys-lru\n"
    )
    files = seeded_volume(
        kit,
        images["redis"],
        "redis-files",
        [
            SeedFile("/run/pap/redis.conf", config.encode(), 0o444),
            SeedFile("/run/pap/secrets/redis_password", REDIS_PASSWORD.encode() + b"\n"),
        ],
        user_of("redis"),
    )
    container = kit.run(
        images["redis"],
        "redis",
        user=user_of("redis"),
        volumes={files: "/run/pap", kit.volume("redis-data"): "/data"},
        network=data_network,
    )
    wait_for_health(container, timeout=60)
    return container


def test_redis_requires_the_password(redis: Container) -> None:
    _, output = exec_in(redis, ["redis-cli", "ping"])
    assert "NOAUTH" in output, output
    _, output = exec_in(redis, ["redis-cli", "--no-auth-warning", "-a", "wrong", "ping"])
    assert "PONG" not in output, output
    _, output = exec_in(redis, ["redis-cli", "ping"], environment={"REDISCLI_AUTH": REDIS_PASSWORD})
    assert output.strip() == "PONG"
    # Persistence writes into the /data volume (the root filesystem is read-only).
    _, output = exec_in(redis, ["redis-cli", "save"], environment={"REDISCLI_AUTH": REDIS_PASSWORD})
    assert output.strip() == "OK", output


def test_redis_healthcheck_fails_without_the_password(redis: Container) -> None:
    code, output = exec_in(redis, ["pap-healthcheck"], environment={"REDIS_PASSWORD_FILE": "/nonexistent"})
    assert code == 1, output
    code, output = exec_in(
        redis, ["sh", "-c", "echo wrong >/tmp/wrong && REDIS_PASSWORD_FILE=/tmp/wrong pap-healthcheck"]
    )
    assert code == 1, output
    code, output = exec_in(redis, ["pap-healthcheck"])
    assert code == 0, output


# ---------------------------------------------------------------- nginx


def self_signed_certificate() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


NGINX_CONFIG = """
worker_processes 1;
pid /tmp/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log /dev/stdout;
    server_tokens off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 8443 ssl http2;
        ssl_certificate /run/pap/nginx/tls/server.crt;
        ssl_certificate_key /run/pap/secrets/tls_key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { add_header Content-Type text/plain always; return 200 "proxied\\n"; }
    }
    server {
        listen 8080;
        location / { return 308 https://$host$request_uri; }
    }
    server {
        listen 127.0.0.1:8081;
        location = /healthz { access_log off; return 200; }
    }
}
"""


@pytest.fixture(scope="session")
def nginx(kit: DockerKit, images: dict[str, BuiltImage]) -> tuple[Container, bytes]:
    certificate, key = self_signed_certificate()
    files = seeded_volume(
        kit,
        images["nginx"],
        "nginx-files",
        [
            SeedFile("/run/pap/nginx/nginx.conf", NGINX_CONFIG.encode(), 0o444),
            SeedFile("/run/pap/nginx/tls/server.crt", certificate, 0o444),
            SeedFile("/run/pap/secrets/tls_key", key, 0o440),
        ],
        user_of("nginx"),
    )
    container = kit.run(
        images["nginx"],
        "nginx",
        user=user_of("nginx"),
        volumes={files: "/run/pap"},
        ports={"8443/tcp": ("127.0.0.1", None), "8080/tcp": ("127.0.0.1", None)},
    )
    wait_for_health(container, timeout=60)
    container.reload()
    return container, certificate


def host_port(container: Container, port: str) -> int:
    return int(container.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])


def test_nginx_serves_tls_with_the_uploaded_certificate(nginx: tuple[Container, bytes]) -> None:
    container, certificate = nginx
    with tempfile.NamedTemporaryFile(suffix=".pem") as ca_file:
        ca_file.write(certificate)
        ca_file.flush()
        context = ssl.create_default_context(cafile=ca_file.name)
        url = f"https://localhost:{host_port(container, '8443/tcp')}/"
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            assert response.status == 200
            assert response.read() == b"proxied\n"
            assert response.headers["Server"] == "nginx"  # server_tokens off: no version
    _, output = exec_in(container, ["id", "-u"])
    assert output.strip() == "10030"


def test_nginx_redirect_port_and_healthcheck(nginx: tuple[Container, bytes]) -> None:
    container, _ = nginx
    request = urllib.request.Request(f"http://127.0.0.1:{host_port(container, '8080/tcp')}/x?y=1")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect())
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=5)
    assert answer.value.code == 308
    assert answer.value.headers["Location"].startswith("https://127.0.0.1")
    assert health_status(container) == "healthy"
    # A 308 is not healthy: the healthcheck pointed at the redirect port must fail.
    code, output = exec_in(container, ["pap-healthcheck"], environment={"NGINX_HEALTH_PORT": "8080"})
    assert code == 1 and "308" in output, output


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


# ---------------------------------------------------------------- backup


@dataclass
class Backups:
    container: Container
    database: Database
    files_volume: str

    def run(self, *arguments: str, **environment: str) -> tuple[int, str]:
        return exec_in(self.container, ["pap-backup", *arguments], environment=environment)

    def shell(self, script: str) -> str:
        code, output = exec_in(self.container, ["sh", "-c", script])
        assert code == 0, output
        return output

    def files(self) -> list[str]:
        return sorted(self.shell("ls -A /backups").split())

    def dumps(self) -> list[str]:
        return [name for name in self.files() if DUMP_NAME.match(name)]

    def status(self) -> dict[str, Any]:
        return json.loads(self.shell("cat /backups/status.json"))

    def read(self, path: str) -> bytes:
        stream, _ = self.container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            assert member is not None
            return member.read()


def table_fingerprint(database: Database, name: str = DB_NAME) -> tuple[str, str]:
    """(row count, md5 of every row in order): equal fingerprints mean equal content."""
    output = database.sql(
        "SELECT count(*) || ' ' || md5(coalesce(string_agg(s::text, ',' ORDER BY id), '')) FROM slides s",
        name,
    )
    count, digest = output.split()
    return count, digest


@pytest.fixture(scope="session")
def backups(kit: DockerKit, images: dict[str, BuiltImage], database: Database, data_network: str) -> Backups:
    database.sql(
        "CREATE TABLE IF NOT EXISTS slides (id integer PRIMARY KEY, title text NOT NULL, seen timestamptz);"  # noqa: S608
        "INSERT INTO slides SELECT g, 'slide ' || g, now() - g * interval '1 minute' "
        f"FROM generate_series(1, {TABLE_ROWS}) g "
        "ON CONFLICT DO NOTHING;"
        "CREATE TABLE IF NOT EXISTS feedback (id serial PRIMARY KEY, rating int);"
        "INSERT INTO feedback (rating) SELECT g % 5 + 1 FROM generate_series(1, 42) g;"
    )
    pgpass = f"{database.host}:5432:*:{DB_USER}:{DB_PASSWORD}\n".encode()
    files = seeded_volume(
        kit,
        images["backup"],
        "backup-files",
        [SeedFile("/run/pap/secrets/pgpass", pgpass)],
        user_of("backup"),
    )
    container = kit.run(
        images["backup"],
        "backup",
        user=user_of("backup"),
        environment={
            "PGHOST": database.host,
            "PGPORT": "5432",
            "PGDATABASE": DB_NAME,
            "PGUSER": DB_USER,
            "BACKUP_INTERVAL_SECONDS": "3600",
            "BACKUP_KEEP_COUNT": "3",
            "BACKUP_KEEP_DAYS": "7",
        },
        volumes={files: "/run/pap", kit.volume("backups"): "/backups"},
        network=data_network,
        # The image's own check, probed more often than its 60 s interval so the test does not wait minutes.
        healthcheck={
            "test": ["CMD", "pap-healthcheck"],
            "interval": 2_000_000_000,
            "timeout": 10_000_000_000,
            "retries": 2,
            "start_period": 60_000_000_000,
        },
    )
    return Backups(container=container, database=database, files_volume=files)


def test_backup_loop_takes_a_backup_at_start_and_is_healthy(backups: Backups) -> None:
    wait_for_health(backups.container, timeout=60)
    status = backups.status()
    assert status["last_backup"]["result"] == "success", status
    assert status["last_success"]["file"] in backups.dumps()


def test_once_writes_a_dump_its_checksum_and_status(backups: Backups) -> None:
    before = set(backups.dumps())
    code, output = backups.run("once")
    assert code == 0, output
    new = sorted(set(backups.dumps()) - before)
    assert len(new) == 1, (before, backups.files())
    name = new[0]
    dump = backups.read(f"/backups/{name}")
    assert dump.startswith(b"PGDMP"), "not a pg_dump custom-format archive"
    digest = hashlib.sha256(dump).hexdigest()
    assert backups.read(f"/backups/{name}.sha256").decode() == f"{digest}  {name}\n"
    status = backups.status()["last_backup"]
    assert status["result"] == "success"
    assert (status["file"], status["size_bytes"], status["sha256"]) == (name, len(dump), digest)
    assert status["duration_seconds"] >= 0 and status["error"] is None
    counts = backups.read(f"/backups/{name}.counts").decode()
    assert f"public.slides\t{TABLE_ROWS}" in counts.splitlines()
    assert not [f for f in backups.files() if f.endswith(".partial")]
    code, listing = backups.run("list")
    assert name in listing


def test_retention_deletes_only_old_dumps_of_its_own_pattern(backups: Backups) -> None:
    old = [f"{DB_NAME}-20200101T000000Z.dump", f"{DB_NAME}-20200102T000000Z.dump"]
    strangers = [
        "other-20200101T000000Z.dump",
        f"{DB_NAME}-notes.txt",
        f"{DB_NAME}-20200101T000000Z.dump.keep",
        f"x{DB_NAME}-20200101T000000Z.dump",
    ]
    backups.shell(
        "cd /backups && for f in " + " ".join(old + strangers) + "; do echo old >$f; done && "
        f"for f in {' '.join(old)}; do echo 'x  '$f >$f.sha256; done"
    )
    for _ in range(4):
        code, output = backups.run("once")
        assert code == 0, output
    files = backups.files()
    dumps = backups.dumps()
    assert len(dumps) == 3, files  # BACKUP_KEEP_COUNT
    assert not set(old) & set(files) and not {f"{name}.sha256" for name in old} & set(files), files
    assert set(strangers) <= set(files), "retention deleted a file that is not one of its dumps"
    for name in dumps:
        assert {f"{name}.sha256", f"{name}.counts"} <= set(files)


def test_retention_never_deletes_the_newest_dump(backups: Backups) -> None:
    ghost = ["ghost-20200101T000000Z.dump", "ghost-20200301T000000Z.dump"]
    backups.shell("cd /backups && for f in " + " ".join(ghost) + "; do echo old >$f; done")
    code, output = backups.run("prune", PGDATABASE="ghost", BACKUP_KEEP_COUNT="0", BACKUP_KEEP_DAYS="1")
    assert code == 0, output
    files = backups.files()
    assert ghost[1] in files and ghost[0] not in files, files
    backups.shell(f"rm /backups/{ghost[1]}")


def test_restore_brings_deleted_rows_back(backups: Backups) -> None:
    original = table_fingerprint(backups.database)
    code, output = backups.run("once")
    assert code == 0, output
    backups.database.sql(
        "DELETE FROM slides WHERE id % 5 = 0; UPDATE slides SET title = 'changed' WHERE id = 1"
    )
    assert table_fingerprint(backups.database) != original
    code, output = backups.run("restore", "latest")
    assert code == 0, output
    assert table_fingerprint(backups.database) == original
    assert backups.status()["last_restore"]["result"] == "success"
    # Into another database, created for the purpose, leaving the live one alone.
    code, output = backups.run("restore", "latest", "--target-db", "pap_copy")
    assert code == 0, output
    assert table_fingerprint(backups.database, "pap_copy") == original
    backups.database.sql("DROP DATABASE pap_copy", "postgres")


def test_drill_restores_into_a_scratch_database_and_compares_counts(backups: Backups) -> None:
    code, output = backups.run("drill")
    assert code == 0, output
    drill = backups.status()["last_drill"]
    assert drill["result"] == "success", drill
    assert drill["file"] == backups.dumps()[-1]
    assert drill["tables"] == 2 and drill["mismatches"] == []
    assert (
        backups.database.sql("SELECT count(*) FROM pg_database WHERE datname = 'pap_drill'", "postgres")
        == "0"
    )


def test_drill_fails_on_a_corrupted_dump_and_on_wrong_counts(backups: Backups) -> None:
    code, output = backups.run("once")
    assert code == 0, output
    newest = backups.dumps()[-1]
    path = f"/backups/{newest}"
    # Row counts that do not match what the dump restores: the comparison must notice.
    backups.shell(
        f"cp {path}.counts /tmp/counts && "
        f"sed 's/^public.feedback\t.*/public.feedback\t41/' /tmp/counts >{path}.counts"
    )
    code, output = backups.run("drill")
    assert code != 0, output
    drill = backups.status()["last_drill"]
    assert drill["result"] == "failure"
    assert drill["mismatches"] == [{"table": "public.feedback", "expected": "41", "restored": "42"}], drill
    # Flipped bytes: the checksum refuses the dump before anything is restored, and restore refuses it too.
    backups.shell(f"printf 'garbage' | dd of={path} bs=1 seek=200 conv=notrunc 2>/dev/null")
    code, output = backups.run("drill")
    assert code != 0 and "checksum mismatch" in output, output
    assert backups.status()["last_drill"]["result"] == "failure"
    before = table_fingerprint(backups.database)
    code, output = backups.run("restore", newest)
    assert code != 0 and "checksum mismatch" in output, output
    assert table_fingerprint(backups.database) == before
    # A truncated dump with a matching checksum: pg_restore itself fails, inside its single transaction.
    backups.shell(
        f"head -c 2000 {path} >/tmp/short && cp /tmp/short {path} && "
        f"cd /backups && sha256sum {newest} >{newest}.sha256"
    )
    code, output = backups.run("drill")
    assert code != 0, output
    assert backups.status()["last_drill"]["result"] == "failure"
    assert (
        backups.database.sql("SELECT count(*) FROM pg_database WHERE datname = 'pap_drill'", "postgres")
        == "0"
    )
    backups.shell(f"rm {path} {path}.sha256 {path}.counts")


def test_loop_with_drills_backs_up_and_drills_at_start(
    kit: DockerKit, images: dict[str, BuiltImage], backups: Backups, data_network: str
) -> None:
    container = kit.run(
        images["backup"],
        "backup-drills",
        user=user_of("backup"),
        environment={
            "PGHOST": backups.database.host,
            "PGDATABASE": DB_NAME,
            "PGUSER": DB_USER,
            "BACKUP_INTERVAL_SECONDS": "3600",
            "RESTORE_DRILL_INTERVAL_SECONDS": "3600",
        },
        volumes={
            backups.files_volume: "/run/pap",  # the same pgpass
            kit.volume("backups-drills"): "/backups",
        },
        network=data_network,
    )
    status: dict[str, Any] = {}
    for _ in range(60):
        _, output = exec_in(container, ["sh", "-c", "cat /backups/status.json 2>/dev/null || echo '{}'"])
        status = json.loads(output)
        if "last_drill" in status:
            break
        time.sleep(1)
    assert status.get("last_backup", {}).get("result") == "success", status
    assert status.get("last_drill", {}).get("result") == "success", status
    # bash as PID 1 has no default signal handling: the loop must stop at once on `docker stop`.
    started = time.monotonic()
    container.stop(timeout=20)
    container.reload()
    assert time.monotonic() - started < 10
    assert container.attrs["State"]["ExitCode"] == 0, container.logs().decode()
