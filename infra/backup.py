"""Backups and recovery with pgBackRest: the TLS material and files of its three hosts (Archive), and the two
repository services (Backup) that archive the database's WAL and back it up. See infra/pgbackrest.py."""

from __future__ import annotations

import functools

import pulumi
import pulumi_docker as docker
import pulumi_random as random
import pulumi_tls as tls

from infra import pgbackrest
from infra.config import BackupConfig, TlsConfig
from infra.credentials import Secrets
from infra.database import ArchiveFiles, Database
from infra.naming import Naming, Role
from infra.networks import Networks
from infra.swarm import (
    DATA_NODE_CONSTRAINT,
    ConfigFile,
    Health,
    NetworkAttachment,
    SecretFile,
    ServiceSpec,
    Tmpfs,
    hardened_service,
    labelled_volume,
    swarm_config,
    swarm_secret,
)

ARCHIVE_TYPE = "pap:platform:BackupArchive"
TYPE = "pap:platform:Backup"
UID = 10040  # the repositories' user: not the database's, so neither can touch the other's files
HOURS_PER_DAY = 24
HEALTH = Health(
    tests=("CMD", "pap-repository", "health"),
    interval="30s",
    timeout="20s",
    start_period="60s",
)


class Archive(pulumi.ComponentResource):
    """The stack's own CA for pgBackRest's TLS (client certificates both ways), each host's certificate and
    configuration, and one generated passphrase per repository (repositories are encrypted, AES-256)."""

    database: ArchiveFiles
    repositories: dict[int, ArchiveFiles]

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: BackupConfig,
        tls_config: TlsConfig,
        superuser: str,
        secrets: Secrets,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(ARCHIVE_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"Presentation Analytics {naming.stack} pgBackRest CA",
                organization="Presentation Analytics",
            ),
            validity_period_hours=tls_config.ca_validity_days * HOURS_PER_DAY,
            early_renewal_hours=tls_config.early_renewal_days * HOURS_PER_DAY,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            opts=child,
        )
        ca_file = ConfigFile(pgbackrest.CA_PATH, swarm_config(naming, "pgbackrest-ca", ca.cert_pem, self))

        def host_files(host: str, content: pulumi.Input[str]) -> ArchiveFiles:
            key = tls.PrivateKey(f"{name}-{host}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
            request = tls.CertRequest(
                f"{name}-{host}-csr",
                private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=host, organization="Presentation Analytics"),
                dns_names=[host],
                opts=child,
            )
            certificate = tls.LocallySignedCert(
                f"{name}-{host}",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=tls_config.validity_days * HOURS_PER_DAY,
                early_renewal_hours=tls_config.early_renewal_days * HOURS_PER_DAY,
                allowed_uses=["digital_signature", "server_auth", "client_auth"],
                opts=child,
            )
            key_pem: pulumi.Output[str] = pulumi.Output.secret(key.private_key_pem)
            return ArchiveFiles(
                configs=[
                    ConfigFile(
                        pgbackrest.CONFIG_PATH, swarm_config(naming, f"pgbackrest-{host}", content, self)
                    ),
                    ca_file,
                    ConfigFile(
                        pgbackrest.CERT_PATH,
                        swarm_config(naming, f"pgbackrest-{host}-cert", certificate.cert_pem, self),
                    ),
                ],
                secrets=[
                    SecretFile(
                        pgbackrest.KEY_PATH.removeprefix("/run/secrets/"),
                        swarm_secret(naming, f"pgbackrest-{host}-key", key_pem, self),
                    )
                ],
                env={"PGBACKREST_CONFIG": pgbackrest.CONFIG_PATH},
            )

        self.database = host_files(pgbackrest.DATABASE_HOST, pgbackrest.database_config(superuser, config))
        # pgBackRest connects to PostgreSQL over the socket as the superuser, with this password file.
        pgpass_line = secrets.database_password.value.apply(lambda value: f"*:*:*:{superuser}:{value}\n")
        pgpass = SecretFile("pgpass", swarm_secret(naming, "pgpass", pgpass_line, parent=self))
        self.database.secrets.append(pgpass)
        self.database.env["PGPASSFILE"] = pgpass.path

        self.repositories = {}
        for repository in pgbackrest.REPOSITORIES:
            files = host_files(repository.host, pgbackrest.repository_config(repository, config, superuser))
            passphrase = random.RandomPassword(
                f"{name}-repo{repository.index}-cipher-pass", length=48, special=False, opts=child
            )
            secret_pass: pulumi.Output[str] = pulumi.Output.secret(passphrase.result)
            include = secret_pass.apply(functools.partial(_include, repository, config))
            files.secrets.append(
                SecretFile(
                    f"pgbackrest/repo{repository.index}.conf",
                    swarm_secret(naming, f"pgbackrest-repo{repository.index}", include, self),
                )
            )
            files.env["PGBACKREST_CONFIG_INCLUDE_PATH"] = pgbackrest.INCLUDE_DIR
            self.repositories[repository.index] = files
        self.register_outputs({"caCertificatePem": ca.cert_pem})


def _include(repository: pgbackrest.Repository, config: BackupConfig, passphrase: str) -> str:
    return pgbackrest.secret_include(repository, passphrase, config)


class Backup(pulumi.ComponentResource):
    """The two repository services: `backup` (repository 1, the database's node, the data network) and
    `backup-offsite` (repository 2, another node, its own network and volume; or an S3 bucket)."""

    service: docker.Service
    volume: docker.Volume
    offsite_service: docker.Service
    offsite_volume: docker.Volume

    def __init__(
        self,
        name: str,
        *,
        naming: Naming,
        config: BackupConfig,
        image: pulumi.Input[str],
        archive: Archive,
        database: Database,
        networks: Networks,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)

        def repository_service(
            repository: pgbackrest.Repository,
            role: Role,
            volume: docker.Volume,
            network: docker.Network,
            constraint: str,
            egress: docker.Network | None = None,
        ) -> docker.Service:
            files = archive.repositories[repository.index]
            return hardened_service(
                naming,
                ServiceSpec(
                    thing=repository.host,
                    role=role,
                    image=image,
                    uid=UID,
                    resources=config,
                    networks=[
                        NetworkAttachment(network.name, (repository.host,)),
                        *([NetworkAttachment(egress.name)] if egress is not None else []),
                    ],
                    env={
                        **files.env,
                        **pgbackrest.schedule_env(config, repository),
                        "POSTGRES_DB": database.database_name,
                    },
                    args=["pap-repository", "run"],
                    secrets=files.secrets,
                    configs=files.configs,
                    tmpfs={"/tmp": Tmpfs(size_mb=64, mode=0o1777)},  # noqa: S108 - a private tmpfs
                    volumes={pgbackrest.REPOSITORY_PATH: volume.name},
                    order="stop-first",  # one writer per repository
                    constraints=[constraint],
                    health=HEALTH,
                ),
                parent=self,
                depends_on=[database.service],
            )

        self.volume = labelled_volume(f"{name}-volume", naming.name("backups"), naming, self)
        self.service = repository_service(
            pgbackrest.LOCAL, "backup", self.volume, networks.data, DATA_NODE_CONSTRAINT
        )
        self.offsite_volume = labelled_volume(
            f"{name}-offsite-volume", naming.name("backups", "offsite"), naming, self
        )
        self.offsite_service = repository_service(
            pgbackrest.OFFSITE,
            "backup-offsite",
            self.offsite_volume,
            networks.offsite,
            config.offsite.placement,
            egress=networks.egress,
        )
        self.register_outputs(
            {
                "service": self.service.name,
                "volume": self.volume.name,
                "offsiteService": self.offsite_service.name,
                "offsiteVolume": self.offsite_volume.name,
            }
        )
