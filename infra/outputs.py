"""Stack output names: the contract with the tests, the offline plan and the promoted (prod) stack."""

URL = "url"
CA_CERTIFICATE = "caCertificate"
SERVICE_IMAGE = "serviceImage"  # the immutable image ID prod promotes from dev
WEB_IMAGE = "webImage"  # likewise, the web frontend's
DATABASE_IMAGE = "databaseImage"
CACHE_IMAGE = "cacheImage"
PROXY_IMAGE = "proxyImage"
EDGE_NETWORK = "edgeNetwork"
APP_NETWORK = "appNetwork"
DATA_NETWORK = "dataNetwork"
OFFSITE_NETWORK = "offsiteNetwork"
BACKUP_VOLUME = "backupVolume"
BACKUP_SERVICE = "backupService"
OFFSITE_BACKUP_VOLUME = "offsiteBackupVolume"
OFFSITE_BACKUP_SERVICE = "offsiteBackupService"
DATABASE_SERVICE = "databaseService"
DATABASE_VOLUME = "databaseVolume"
BACKEND_SERVICE = "backendService"
WEB_SERVICE = "webService"
ADMIN_PASSWORD = "adminPassword"  # noqa: S105 - an output name; secret; only when backend.bootstrapAdminEmail is set

ALL = (
    URL,
    CA_CERTIFICATE,
    SERVICE_IMAGE,
    WEB_IMAGE,
    DATABASE_IMAGE,
    CACHE_IMAGE,
    PROXY_IMAGE,
    EDGE_NETWORK,
    APP_NETWORK,
    DATA_NETWORK,
    OFFSITE_NETWORK,
    BACKUP_VOLUME,
    BACKUP_SERVICE,
    OFFSITE_BACKUP_VOLUME,
    OFFSITE_BACKUP_SERVICE,
    DATABASE_SERVICE,
    DATABASE_VOLUME,
    BACKEND_SERVICE,
    WEB_SERVICE,
)
