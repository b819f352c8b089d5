"""A second Swarm node for the e2e: a Docker engine in a container of the project's own, joined as a worker.

No second machine exists here (docs: ../shared/ENVIRONMENT.md), so the worker is Debian's dockerd inside a
container built from the local base image (tests/e2e/images/worker), with its /var/lib/docker on a named
volume (overlay2 cannot stack on the container's overlay root). The host's engine is the manager. What it
creates carries `pap.e2e=1` (the container, its two volumes, and the node entry's spec label) so that
`make e2e-down` finds what a crashed run left; `remove_leftover_nodes` removes the node entry.

The worker sits on the host bridge whose gateway is the manager's advertise address (docker0, 172.17.0.1):
Linux drops VXLAN packets whose outer source is not the address the node learned for its peer (the entry
is static), and the host sends from the gateway of the bridge it reaches the worker through. Measured: on a
bridge of its own the join works, but no overlay packet from the manager reaches a worker task.

    with Worker() as worker:          # builds the image, starts the engine, waits until it answers
        worker.join()                 # `docker swarm join-token -q worker`, then Ready on the manager
        worker.load_images([image_id])
        ...
        worker.kill()                 # abrupt loss; leaving the block removes node, container and volumes
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import docker
import docker.errors
from docker.types import Mount

E2E_LABEL = "pap.e2e"
LABELS = {E2E_LABEL: "1", "pap.e2e.part": "worker"}
IMAGE = "pap-e2e-worker:latest"
CONTEXT = Path(__file__).resolve().parent / "images" / "worker"
NAME = "pap-e2e-worker"
LOCAL_POOL = "10.199.0.0/16"  # the worker engine's own bridges (docker_gwbridge); overlays use Swarm's pool
API_DIR = "/run/pap-worker"  # in the container, on a named volume: the host reaches the socket through it
ENGINE_TIMEOUT = 90.0  # start -> the worker's engine answers (about 3 s measured; the image build apart)
JOIN_TIMEOUT = 60.0  # join -> Ready on the manager (under 1 s measured)
BUILD_TIMEOUT = 600.0

# Docker 20.10's capability names by bit (it knows none above AUDIT_READ). --privileged would ask runc for
# all of them; on this machine's kernel the bounding set lacks CAP_SYS_RESOURCE, so a privileged container
# fails to start ("unable to apply caps: operation not permitted"). The worker gets what the host has.
CAPABILITIES = (  # noqa: SIM905 (a list of 38 one-word strings reads worse)
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
    "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT "
    "SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE "
    "AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ"
).split()

T = TypeVar("T")


class WorkerError(RuntimeError):
    """The worker node could not be made, joined or fed; the message says which step and why."""


def host_capabilities(status_file: Path = Path("/proc/self/status")) -> list[str]:
    """The Docker capability names in this process's bounding set (the engine runs beside it, as root)."""
    lines = status_file.read_text().splitlines()
    bounding = next(int(line.split()[1], 16) for line in lines if line.startswith("CapBnd:"))
    return [name for bit, name in enumerate(CAPABILITIES) if bounding & (1 << bit)]


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Polls `probe` until it returns other than None; the TimeoutError names `what` and the last error."""
    deadline = time.monotonic() + timeout
    last = "never answered"
    while True:
        try:
            result = probe()
            if result is not None:
                return result
            last = "not yet"
        except (docker.errors.DockerException, OSError) as error:
            last = f"{type(error).__name__}: {error}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s (last: {last})")
        time.sleep(interval)


def remove_leftover_nodes(api: docker.APIClient | None = None) -> list[str]:
    """Removes (force) every Swarm node entry a worker left: spec label pap.e2e=1, or a worker's hostname.

    The hostname catches a node lost between joining and being labeled. Never the local (manager) node.
    """

    def ours(node: dict[str, Any]) -> bool:
        labeled = (node["Spec"].get("Labels") or {}).get(E2E_LABEL) == "1"
        return labeled or str(node["Description"]["Hostname"]).startswith(NAME)

    return _remove_nodes(api or docker.APIClient(), ours)


def _remove_nodes(api: docker.APIClient, wanted: Callable[[dict[str, Any]], bool]) -> list[str]:
    try:
        nodes = api.nodes()
    except docker.errors.APIError:  # not a swarm manager: there are no node entries to leave behind
        return []
    local = (api.info().get("Swarm") or {}).get("NodeID")
    removed = []
    for node in nodes:
        if node["ID"] != local and wanted(node):
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_node(node["ID"], force=True)
            removed.append(str(node["Description"]["Hostname"]))
    return removed


class Worker:
    """One worker engine in a container; use it as a context manager so that it is always removed."""

    def __init__(self, name: str = NAME, host: docker.APIClient | None = None) -> None:
        self.name = name
        self.host = host or docker.APIClient(timeout=120)
        self.data_volume = f"{name}-data"
        self.api_volume = f"{name}-api"
        self.node_id: str | None = None
        self._engine: docker.APIClient | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> Worker:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.remove()

    def start(self) -> None:
        """Builds the image, removes what an earlier run left under the same names, starts the engine."""
        self.remove()
        network = self.underlay_network()
        self.build_image()
        for volume in (self.data_volume, self.api_volume):
            self.host.create_volume(volume, labels=LABELS)
        host_config = self.host.create_host_config(
            cap_add=host_capabilities(),
            # No profile can describe an engine: it mounts, makes namespaces and programs netfilter.
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
            # Its task containers need /dev/null and friends made by runc (mknod) inside the worker.
            device_cgroup_rules=["a *:* rwm"],
            mounts=[
                Mount("/var/lib/docker", self.data_volume, type="volume"),
                Mount(API_DIR, self.api_volume, type="volume"),
            ],
            network_mode=network,
        )
        # `--security-opt systempaths=unconfined` of the CLI: the engine writes /proc/sys (forwarding, the
        # bridge's sysctls), which Docker otherwise mounts read-only or masks.
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        self.host.create_container(
            IMAGE,
            name=self.name,
            hostname=self.name,
            labels=LABELS,
            host_config=host_config,
            command=[
                "--host=unix:///var/run/docker.sock",
                f"--host=unix://{API_DIR}/docker.sock",
                # Named: a silent fallback to vfs would copy every image layer in full.
                "--storage-driver=overlay2",
                # Its own bridges must not take the manager's address inside its namespace (measured: on a
                # bridge apart from docker0 its docker0 took 172.17.0.1/16 and the join dialled itself,
                # "connection refused"). No docker0 (tasks use overlays and docker_gwbridge), and local
                # networks from a pool apart from the manager's.
                "--bridge=none",
                f"--default-address-pool=base={LOCAL_POOL},size=24",
            ],
        )
        self.host.start(self.name)
        self._wait_for_engine()

    def build_image(self) -> str:
        """The worker image from the local base image (cached after the first build, about 25 s cold)."""
        image_id = None
        for message in self.host.build(
            path=str(CONTEXT), tag=IMAGE, rm=True, forcerm=True, decode=True, timeout=BUILD_TIMEOUT
        ):
            if "error" in message:
                raise WorkerError(f"building {IMAGE} from {CONTEXT}: {message['error'].strip()}")
            if "aux" in message and "ID" in message["aux"]:
                image_id = message["aux"]["ID"]
        return image_id or str(self.host.inspect_image(IMAGE)["Id"])

    def remove(self) -> None:
        """Node entry (force), container, volumes; each step tolerates what is already gone."""
        # The entry first: the manager reschedules the node's tasks at once instead of after the heartbeat.
        # By hostname too, so that an entry from an earlier run of the same name goes as well.
        self.remove_node()
        _remove_nodes(self.host, lambda node: node["Description"]["Hostname"] == self.name)
        with contextlib.suppress(docker.errors.NotFound):
            self.host.remove_container(self.name, v=True, force=True)
        for volume in (self.data_volume, self.api_volume):
            with contextlib.suppress(docker.errors.NotFound):
                self.host.remove_volume(volume, force=True)
        self.node_id = None
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def kill(self) -> None:
        """SIGKILL to the worker's dockerd (PID 1): the node and its tasks vanish without a goodbye."""
        self.host.kill(self.name)

    def stop(self, timeout: int = 10) -> None:
        """A clean shutdown of the worker's engine (SIGTERM, then SIGKILL after `timeout`)."""
        self.host.stop(self.name, timeout=timeout)

    # -- the worker's own engine --------------------------------------------------------------------------

    @property
    def engine(self) -> docker.APIClient:
        """The worker's Engine API, through its socket on the API volume (so: on the engine's host only)."""
        if self._engine is None:
            self._engine = docker.APIClient(base_url=self.engine_url, timeout=120)
        return self._engine

    @property
    def engine_url(self) -> str:
        """`unix://...` for DOCKER_HOST or docker.APIClient(base_url=...)."""
        return f"unix://{self._api_dir_on_host() / 'docker.sock'}"

    def _api_dir_on_host(self) -> Path:
        mountpoint = Path(self.host.inspect_volume(self.api_volume)["Mountpoint"])
        if not mountpoint.is_dir():
            raise WorkerError(
                f"the worker's API volume is not on this machine ({mountpoint}): run on the engine's host"
            )
        return mountpoint

    def _wait_for_engine(self) -> None:
        def answers() -> bool | None:
            state = self.host.inspect_container(self.name)["State"]
            if not state["Running"]:
                raise WorkerError(f"{self.name} exited ({state['ExitCode']}): {self.logs_tail()}")
            socket = self._api_dir_on_host() / "docker.sock"
            return True if socket.exists() and self.engine.ping() else None

        try:
            wait_for(f"{self.name}'s engine answers", answers, ENGINE_TIMEOUT)
        except TimeoutError as error:
            raise WorkerError(f"{error}; {self.name} logs: {self.logs_tail()}") from error

    def logs_tail(self, lines: int = 15) -> str:
        """The worker's dockerd log (its stdout), last lines, for error messages."""
        with contextlib.suppress(docker.errors.APIError):
            return self.host.logs(self.name, tail=lines).decode(errors="replace").strip()
        return "(no logs)"

    @property
    def address(self) -> str:
        """The worker's address on its bridge: its Swarm advertise address and VXLAN endpoint."""
        networks = self.host.inspect_container(self.name)["NetworkSettings"]["Networks"]
        return str(next(iter(networks.values()))["IPAddress"])

    # -- swarm membership ---------------------------------------------------------------------------------

    def _manager(self) -> dict[str, Any]:
        manager = dict(self.host.info().get("Swarm") or {})
        if not manager.get("ControlAvailable"):
            raise WorkerError("the host engine is not a swarm manager (tools/docker-engine.sh makes it one)")
        return manager

    def underlay_network(self) -> str:
        """The host's bridge network whose gateway is the manager's advertise address (see the module doc)."""
        address = self._manager()["NodeAddr"]
        for network in self.host.networks(filters={"driver": "bridge"}):
            for config in (network.get("IPAM") or {}).get("Config") or []:
                # The default bridge lists no gateway: docker0's own address (--bip) is its gateway.
                gateway = config.get("Gateway")
                inside = "Subnet" in config and ipaddress.ip_address(address) in ipaddress.ip_network(
                    config["Subnet"]
                )
                if address == gateway or (gateway is None and inside):
                    return str(network["Name"])
        raise WorkerError(
            f"the manager advertises {address}, the gateway of no local bridge network: a worker in a "
            "container exchanges VXLAN with the manager only through such a bridge (advertise docker0's)"
        )

    def join(self) -> str:
        """Joins the host's swarm as a worker, waits for Ready, labels the entry; returns the node ID."""
        manager = self._manager()
        token = self.host.inspect_swarm()["JoinTokens"]["Worker"]  # `docker swarm join-token -q worker`
        addresses = [entry["Addr"] for entry in manager.get("RemoteManagers") or []]
        pool = ipaddress.ip_network(LOCAL_POOL)
        clashing = [
            address
            for address in addresses
            if ipaddress.ip_address(address.rsplit(":", 1)[0].strip("[]")) in pool
        ]
        if clashing:
            raise WorkerError(
                f"manager {clashing} inside the worker's local pool {LOCAL_POOL}: change LOCAL_POOL"
            )
        try:
            self.engine.join_swarm(addresses, token, listen_addr="0.0.0.0:2377", advertise_addr=self.address)
        except docker.errors.APIError as error:
            raise WorkerError(f"joining {addresses} from {self.address}: {error.explanation}") from error
        node_id = str(self.engine.info()["Swarm"]["NodeID"])
        self.node_id = node_id
        wait_for(f"node {self.name} Ready on the manager", lambda: self._state_is("ready"), JOIN_TIMEOUT)
        self.update_node(labels=LABELS)
        return node_id

    def node(self) -> dict[str, Any]:
        if self.node_id is None:
            raise WorkerError(f"{self.name} has not joined")
        return dict(self.host.inspect_node(self.node_id))

    def state(self) -> str:
        """The manager's view: ready, down, unknown, disconnected."""
        return str(self.node()["Status"]["State"])

    def _state_is(self, wanted: str) -> bool | None:
        return True if self.state() == wanted else None

    def wait_state(self, wanted: str, timeout: float, interval: float = 0.2) -> float:
        """Seconds until the manager reports the node in `wanted` state."""
        started = time.monotonic()
        wait_for(f"node {self.name} {wanted}", lambda: self._state_is(wanted), timeout, interval)
        return time.monotonic() - started

    def update_node(self, labels: dict[str, str] | None = None, availability: str | None = None) -> None:
        """Adds spec labels and/or sets the availability (active, pause, drain) at the current version."""
        node = self.node()
        spec = dict(node["Spec"])
        if labels:
            spec["Labels"] = {**(spec.get("Labels") or {}), **labels}
        if availability:
            spec["Availability"] = availability
        self.host.update_node(node["ID"], node["Version"]["Index"], spec)

    def drain(self) -> None:
        self.update_node(availability="drain")

    def remove_node(self) -> None:
        """`docker node rm --force`: the entry goes even while the node is down or still running."""
        if self.node_id is not None:
            with contextlib.suppress(docker.errors.NotFound):
                self.host.remove_node(self.node_id, force=True)
            self.node_id = None

    # -- images -------------------------------------------------------------------------------------------

    def load_images(self, references: Iterable[str]) -> None:
        """`docker save | docker load` from the host engine into the worker's, streamed; IDs are kept."""
        for reference in references:
            image_id = str(self.host.inspect_image(reference)["Id"])
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.engine.inspect_image(image_id)
                continue
            for message in self.engine.load_image(self.host.get_image(reference)):
                if "error" in message:
                    raise WorkerError(f"loading {reference} into {self.name}: {message['error']}")
            loaded = self.engine.inspect_image(image_id)["Id"]
            if loaded != image_id:
                raise WorkerError(f"{reference} loaded into {self.name} as {loaded}, expected {image_id}")
