"""The data-tier and proxy images (infra/images/*) built and run hardened on a real Docker engine.

Each container runs as the platform runs it: read-only root, all capabilities dropped, no-new-privileges,
user "<UID>:0", tmpfs for the writable paths, its files in a /run/pap volume seeded the way the Docker
provider's `uploads` write them (root-owned, secrets 0440).
"""

from __future__ import annotations

import datetime
import re
import ssl
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

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

# The backup repositories run the postgres image (pgBackRest beside PostgreSQL) as their own user; what they
# do is tested end to end (tests/e2e/test_70_recovery.py).
IMAGES = {"postgres": 10010, "redis": 10020, "nginx": 10030}
REPOSITORY_USER = "10040:0"
DB_USER = "pap"
DB_NAME = "pap"
DB_PASSWORD = "correct-horse-battery-staple-1"  # a test secret; the stack generates its own
APP_USER = "pap_app"
APP_PASSWORD = "app-role-test-password-5d2c"
REDIS_PASSWORD = "redis-test-password-7f3a"


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
        images["postgres"],
        [
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT current_user || ' ' || (SELECT setting FROM pg_settings "
            "WHERE name = 'password_encryption')",
        ],
        entrypoint=["psql"],
        user=REPOSITORY_USER,  # a client in another container, as the repositories' user
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


def test_postgres_image_carries_pgbackrest_for_the_repository_user(
    kit: DockerKit, images: dict[str, BuiltImage]
) -> None:
    """The backup repositories run this image as 10040:0: their user exists, owns the repository path
    alone, and finds pgBackRest and pap-repository."""
    script = (
        "stat -c '%u:%g %a' /var/lib/pgbackrest && id -un && pgbackrest version && command -v pap-repository"
    )
    code, output = kit.oneshot(images["postgres"], ["-c", script], entrypoint=["sh"], user=REPOSITORY_USER)
    assert code == 0, output
    lines = output.strip().splitlines()
    assert lines[:2] == ["10040:0 750", "pap-backup"], output
    assert re.fullmatch(r"pgBackRest 2\.\d+(\.\d+)?", lines[2]), output
    assert lines[3] == "/usr/local/bin/pap-repository", output


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
    """A table the owner creates after init (as the migrations do), dropped again."""
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
