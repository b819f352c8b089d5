"""The platform on loopback for the browser tests and the bench: PostgreSQL, Redis, the API and the frontend.

The API runs as in production (`python -m app.cli serve`: migrations, the bootstrap admin, uvicorn); the
frontend is the built standalone Next.js server (`node server.js`), which proxies `/api/*` to the API
(`PAP_API_ORIGIN`), so the browser sees one origin as it does behind the stack's proxy. The frontend is
built only when its sources changed (tools/build-web.sh) and run from a copy of the build, so a rebuild
while the suite runs cannot pull files from under the server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.app.servers import (
    PostgresServer,
    RedisServer,
    free_port,
    postgres_available,
    redis_available,
    serving,
)

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "app" / "web"
BUILD_SCRIPT = ROOT / "tools" / "build-web.sh"
ADMIN_EMAIL = "web-admin@example.com"
API = "/api/v1"


@dataclass(frozen=True)
class Account:
    """A user the tests sign in as (the password is what the browser types)."""

    email: str
    password: str
    role: str
    id: str


def new_password() -> str:
    """One that passes the service's rules: 12+ characters of more than one kind."""
    return "Pap-" + secrets.token_urlsafe(15)


def unavailable() -> str | None:
    """None when the local platform can run here, else why not (each a thing to install)."""
    for reason in (postgres_available(), redis_available()):
        if reason is not None:
            return reason
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed to build and serve the web frontend (Node.js 20 on the host)"
    return None


def build_web() -> Path:
    """The built frontend's server directory (server.js, its node_modules, .next/static, public/).

    tools/build-web.sh does it incrementally (npm ci when the lock file changed, next build when the sources
    did); without that script, npm and next directly, then the two copies next build leaves to the caller.
    """
    if BUILD_SCRIPT.exists():
        result = subprocess.run(
            [str(BUILD_SCRIPT), "--print-root"], capture_output=True, text=True, timeout=900, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"tools/build-web.sh failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return Path(result.stdout.strip().splitlines()[-1])
    environment = os.environ | {"NEXT_TELEMETRY_DISABLED": "1"}
    if not (WEB_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB_DIR, check=True, timeout=900)
    subprocess.run(["npx", "--no-install", "next", "build"], cwd=WEB_DIR, env=environment, check=True)
    root = WEB_DIR / ".next" / "standalone"
    shutil.rmtree(root / ".next" / "static", ignore_errors=True)
    shutil.copytree(WEB_DIR / ".next" / "static", root / ".next" / "static")
    if (WEB_DIR / "public").is_dir():
        shutil.rmtree(root / "public", ignore_errors=True)
        shutil.copytree(WEB_DIR / "public", root / "public")
    return root


class PlatformApi:
    """The API as a client reaches it (the local API, or a deployed stack's edge), signed in as an admin:
    makes the accounts and decks a test starts from."""

    def __init__(self, origin: str, admin_email: str, admin_password: str, verify: str | bool = True) -> None:
        self.origin = origin
        self.client = httpx.Client(base_url=origin + API, timeout=120, verify=verify)
        self.admin_email = admin_email
        self.admin_password = admin_password
        self._token: str | None = None

    def token_for(self, email: str, password: str) -> str:
        """An access token from the API's own login."""
        login = self.client.post("/auth/login", json={"email": email, "password": password})
        if login.status_code != 200:
            raise RuntimeError(f"login of {email}: {login.status_code} {login.text}")
        token: str = login.json()["access_token"]
        return token

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            self._token = self.token_for(self.admin_email, self.admin_password)
        return {"Authorization": f"Bearer {self._token}"}

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """As the admin."""
        response = self.client.request(method, path, headers=self._headers(), **options)
        if response.status_code == 401:  # the 15-minute token ran out during a long session
            self._token = None
            response = self.client.request(method, path, headers=self._headers(), **options)
        return response

    def create_user(self, role: str, name: str) -> Account:
        email = f"{name}-{secrets.token_hex(4)}@example.com"
        password = new_password()
        created = self.request(
            "POST",
            "/users",
            json={"email": email, "username": email.split("@")[0][:64], "password": password, "role": role},
        )
        if created.status_code != 201:
            raise RuntimeError(f"creating {email} as {role}: {created.status_code} {created.text}")
        return Account(email=email, password=password, role=role, id=created.json()["id"])

    def create_deck(self, owner: Account, viewers: list[Account], title: str, pdf: bytes) -> str:
        """A deck from a PDF, owned by `owner`, for named viewers; its id."""
        headers = {"Authorization": f"Bearer {self.token_for(owner.email, owner.password)}"}
        created = self.client.post(
            "/presentations",
            headers=headers,
            json={
                "title": title,
                "audience": "named",
                "viewer_emails": [viewer.email for viewer in viewers],
                "slides": [{"title": title}],
            },
        )
        created.raise_for_status()
        presentation_id: str = created.json()["id"]
        uploaded = self.client.post(
            f"/presentations/{presentation_id}/deck",
            content=pdf,
            headers={**headers, "Content-Type": "application/pdf"},
        )
        uploaded.raise_for_status()
        return presentation_id

    def close(self) -> None:
        self.client.close()


@dataclass
class LocalPlatform:
    """What the tests talk to: the frontend's origin (the API behind it at /api) and the API's own."""

    base_url: str
    api_origin: str
    admin: Account
    api: PlatformApi
    redis: RedisServer
    logs: Path

    def forget_rate_limits(self) -> None:
        """All tests' sign-ins and requests come from 127.0.0.1: each test starts with empty limit windows."""
        import redis

        with redis.Redis.from_url(self.redis.url, password=self.redis.password) as connection:
            keys = list(connection.scan_iter("pap:ratelimit*"))
            if keys:
                connection.delete(*keys)


@contextlib.contextmanager
def local_platform(workdir: Path | None = None) -> Iterator[LocalPlatform]:
    """Start everything (PostgreSQL, Redis, the API with a bootstrap admin, the frontend); stop it after."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="pap-web-"))
    workdir.mkdir(parents=True, exist_ok=True)
    built = build_web()
    web_root = workdir / "web"
    shutil.rmtree(web_root, ignore_errors=True)
    shutil.copytree(built, web_root, symlinks=True)
    with contextlib.ExitStack() as stack:
        postgres = PostgresServer()
        stack.callback(postgres.close)
        cache = RedisServer()
        stack.callback(cache.close)
        admin_password = new_password()
        password_file = workdir / "admin-password"
        password_file.write_text(admin_password + "\n")
        password_file.chmod(0o600)
        api_port, web_port = free_port(), free_port()
        api_origin = f"http://127.0.0.1:{api_port}"
        api_environment = os.environ | {
            "PAP_ENVIRONMENT": "development",
            "PAP_SECRET_KEY": secrets.token_urlsafe(48),
            "PAP_DATABASE_URL": postgres.url,
            "PAP_REDIS_URL": cache.url,
            "PAP_REDIS_PASSWORD": cache.password,
            "PAP_RUN_MIGRATIONS": "true",
            "PAP_WORKERS": "1",
            "PAP_LOG_LEVEL": "WARNING",
            "PAP_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "PAP_BOOTSTRAP_ADMIN_PASSWORD_FILE": str(password_file),
        }
        stack.enter_context(
            serving(
                [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(api_port)],
                environment=api_environment,
                cwd=ROOT,
                log=workdir / "api.log",
                ready_url=f"{api_origin}/health",
            )
        )
        base_url = f"http://127.0.0.1:{web_port}"
        web_environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "PORT": str(web_port),
            "HOSTNAME": "127.0.0.1",
            "NODE_ENV": "production",
            "NEXT_TELEMETRY_DISABLED": "1",
            "PAP_API_ORIGIN": api_origin,
        }
        stack.enter_context(
            serving(
                ["node", str(web_root / "server.js")],
                environment=web_environment,
                cwd=web_root,
                log=workdir / "web.log",
                ready_url=f"{base_url}/healthz",
            )
        )
        api = PlatformApi(api_origin, ADMIN_EMAIL, admin_password)
        stack.callback(api.close)
        me = api.request("GET", "/users/me")
        me.raise_for_status()
        admin = Account(email=ADMIN_EMAIL, password=admin_password, role="admin", id=me.json()["id"])
        yield LocalPlatform(
            base_url=base_url,
            api_origin=api_origin,
            admin=admin,
            api=api,
            redis=cache,
            logs=workdir,
        )
