"""The whole platform from a validated stack config: components wired together, outputs returned.

(Not `platform.py`: infra/ is first on sys.path under the CLI and would shadow the standard library's module.)
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from infra import outputs
from infra.backend import Backend
from infra.backup import Archive, Backup
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
from infra.web import Web

# Hosts the service accepts besides the public names: its own healthcheck talks to 127.0.0.1.
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def deploy(config: StackConfig, stack: str) -> Mapping[str, pulumi.Input[object]]:
    """Declares every resource of the stack; returns the stack outputs by their names in `infra.outputs`."""
    naming = Naming(PROJECT, stack)
    networks = Networks("networks", naming, config.network, offsite_egress=config.backup.offsite.type == "s3")
    secrets = Secrets(
        "secrets", naming, config.rotation, with_admin=config.backend.bootstrap_admin_email is not None
    )
    tls = Tls("tls", config.tls, config.proxy.server_names, stack)
    images = Images("images", naming, config.base_image, build_app_images=config.builds_app_images)
    if images.service is not None and images.web is not None:
        service_image, web_image = images.service, images.web
    else:
        promotion = Promotion("promotion", config.promotion)
        service_image, web_image = promotion.service_image, promotion.web_image

    archive = Archive(
        "archive",
        naming=naming,
        config=config.backup,
        tls_config=config.tls,
        superuser=config.database.user,
        secrets=secrets,
    )
    database = Database(
        "database",
        naming=naming,
        database=config.database,
        backup=config.backup,
        archive=archive.database,
        image=images.database,
        secrets=secrets,
        networks=networks,
    )
    cache = Cache(
        "cache", naming=naming, config=config.cache, image=images.cache, secrets=secrets, networks=networks
    )
    backend = Backend(
        "backend",
        naming=naming,
        config=config.backend,
        image=service_image,
        secrets=secrets,
        database=database,
        redis_url=f"redis://{cache.host}:{cache.port}/0",
        allowed_hosts=list(dict.fromkeys([*config.proxy.server_names, *LOCAL_HOSTS])),
        networks=networks,
        depends_on=[database.service, cache.service],
    )
    web = Web("web", naming=naming, config=config.web, image=web_image, networks=networks)
    proxy = Proxy(
        "proxy",
        naming=naming,
        proxy=config.proxy,
        tls_config=config.tls,
        image=images.proxy,
        certificate_pem=tls.certificate_pem,
        private_key_pem=tls.private_key_pem,
        backend=backend,
        web=web,
        networks=networks,
    )
    backup = Backup(
        "backup",
        naming=naming,
        config=config.backup,
        image=images.database,
        archive=archive,
        database=database,
        networks=networks,
    )
    exported: dict[str, pulumi.Input[object]] = {
        outputs.URL: proxy.url,
        outputs.CA_CERTIFICATE: tls.ca_certificate_pem,
        outputs.SERVICE_IMAGE: service_image,
        outputs.WEB_IMAGE: web_image,
        outputs.DATABASE_IMAGE: images.database,
        outputs.CACHE_IMAGE: images.cache,
        outputs.PROXY_IMAGE: images.proxy,
        outputs.EDGE_NETWORK: networks.edge.name,
        outputs.APP_NETWORK: networks.app.name,
        outputs.DATA_NETWORK: networks.data.name,
        outputs.OFFSITE_NETWORK: networks.offsite.name,
        outputs.BACKUP_VOLUME: backup.volume.name,
        outputs.BACKUP_SERVICE: backup.service.name,
        outputs.OFFSITE_BACKUP_VOLUME: backup.offsite_volume.name,
        outputs.OFFSITE_BACKUP_SERVICE: backup.offsite_service.name,
        outputs.DATABASE_SERVICE: database.service.name,
        outputs.DATABASE_VOLUME: database.data_volume.name,
        outputs.BACKEND_SERVICE: backend.service.name,
        outputs.WEB_SERVICE: web.service.name,
    }
    if secrets.admin_password is not None:
        exported[outputs.ADMIN_PASSWORD] = secrets.admin_password.value
    return exported
