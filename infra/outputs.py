"""Stack output names: the contract with the tests, the offline plan and the promoted (prod) stack."""

URL = "url"
CA_CERTIFICATE = "caCertificate"
SERVICE_IMAGE = "serviceImage"  # the immutable image ID prod promotes from dev
WEB_IMAGE = "webImage"  # likewise, the web frontend's
DATABASE_IMAGE = "databaseImage"
CACHE_IMAGE = "cacheImage"
PROXY_IMAGE = "proxyImage"
BACKUP_IMAGE = "backupImage"
EDGE_NETWORK = "edgeNetwork"
APP_NETWORK = "appNetwork"
DATA_NETWORK = "dataNetwork"
BACKUP_VOLUME = "backupVolume"
BACKUP_SERVICE = "backupService"
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
    BACKUP_IMAGE,
    EDGE_NETWORK,
    APP_NETWORK,
    DATA_NETWORK,
    BACKUP_VOLUME,
    BACKUP_SERVICE,
    BACKEND_SERVICE,
    WEB_SERVICE,
)
