"""The whole platform from a validated stack config: components wired together, outputs returned.

(Not `platform.py`: infra/ is first on sys.path under the CLI and would shadow the standard library's module.)
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from infra import outputs
from infra.backend import PORT as BACKEND_PORT
from infra.backend import Backend
from infra.backup import Backup
from infra.cache import Cache
from infra.config import PROJECT, StackConfig
from infra.credentials import Secrets
from infra.database import Database
from infra.images import Images
from infra.naming import Naming
from infra.networks import Networks
from infra.promotion import Promotion
from infra.proxy import Proxy
from infra.tls import Tls

# Hosts the service accepts besides the public names: its own healthcheck talks to 127.0.0.1.
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def _first_subnet(ipam_configs: object) -> str:
    # The proxy's address on the app network is assigned by Docker; trusting the network's subnet lets the
    # service read the client address from X-Forwarded-For set by the proxy and nobody else.
    for ipam in ipam_configs or []:  # type: ignore[attr-defined]
        subnet = ipam.get("subnet") if isinstance(ipam, dict) else getattr(ipam, "subnet", None)
        if subnet:
            return str(subnet)
    return "127.0.0.1"


def deploy(config: StackConfig, stack: str) -> Mapping[str, pulumi.Input[object]]:
    """Declares every resource of the stack; returns the stack outputs by their names in `infra.outputs`."""
    naming = Naming(PROJECT, stack)
    networks = Networks("networks", naming)
    secrets = Secrets("secrets", with_admin=config.backend.bootstrap_admin_email is not None)
    tls = Tls("tls", config.tls, config.proxy.server_names, stack)
    images = Images("images", naming, config.base_image, build_service=config.builds_service_image)
    if images.service is not None:
        service_image = images.service
    else:
        service_image = Promotion("promotion", config.promotion).service_image

    database = Database(
        "database",
        naming,
        config.database,
        config.backend,
        images.database,
        secrets.database_password,
        secrets.database_app_password,
        networks.data.name,
    )
    cache = Cache("cache", naming, config.cache, images.cache, secrets.redis_password, networks.data.name)
    backend = Backend(
        "backend",
        naming,
        config.backend,
        service_image,
        secrets,
        owner_database_url=database.url(database.user),
        app_database_url=database.url(database.app_user),
        redis_url=f"redis://{cache.host}:{cache.port}/0",
        allowed_hosts=list(dict.fromkeys([*config.proxy.server_names, *LOCAL_HOSTS])),
        trusted_proxies=networks.app.ipam_configs.apply(_first_subnet),
        app_network=networks.app.name,
        data_network=networks.data.name,
        depends_on=[database.container, cache.container],
    )
    proxy = Proxy(
        "proxy",
        naming,
        config.proxy,
        config.tls,
        images.proxy,
        tls.certificate_pem,
        tls.private_key_pem,
        backend.aliases,
        BACKEND_PORT,
        backend.replicas,
        networks.edge.name,
        networks.app.name,
    )
    backup = Backup(
        "backup",
        naming,
        config.backup,
        images.backup,
        database.host,
        database.port,
        database.database_name,
        database.user,
        secrets.database_password,
        networks.data.name,
        database.container,
    )
    exported: dict[str, pulumi.Input[object]] = {
        outputs.URL: proxy.url,
        outputs.CA_CERTIFICATE: tls.ca_certificate_pem,
        outputs.SERVICE_IMAGE: service_image,
        outputs.DATABASE_IMAGE: images.database,
        outputs.CACHE_IMAGE: images.cache,
        outputs.PROXY_IMAGE: images.proxy,
        outputs.BACKUP_IMAGE: images.backup,
        outputs.EDGE_NETWORK: networks.edge.name,
        outputs.APP_NETWORK: networks.app.name,
        outputs.DATA_NETWORK: networks.data.name,
        outputs.BACKUP_VOLUME: backup.volume.name,
        outputs.BACKUP_CONTAINER: backup.container.name,
    }
    if secrets.admin_password is not None:
        exported[outputs.ADMIN_PASSWORD] = secrets.admin_password
    return exported
