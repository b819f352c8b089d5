#!/usr/bin/env bash
# Makes sure a Docker engine answers, is a swarm manager the platform can deploy onto, and that the base image
# every Dockerfile builds FROM exists. Idempotent: does nothing when all of it is already there. No registry is
# reachable on these machines, so the base image is made locally with debootstrap from the apt mirror.
#
# The swarm (README, "Prerequisites"):
# - docker_gwbridge is created before `docker swarm init` with host_binding_ipv4=$PUBLISH_ADDRESS: Swarm
#   publishes host-mode ports through it, and this option is the only place the engine takes a bind address
#   (the program refuses a stack whose proxy.bindAddress differs).
# - The manager listens and advertises on docker0's address, not on a public interface: a second node (the
#   e2e's worker engine in a container) reaches it there, and nothing outside this machine does.
# - dockerd runs with --no-new-privileges (when this script starts it), since a service cannot request it.
# - The node carries the labels the services are pinned by: pap.data (database, cache, the local backup
#   repository and their volumes), pap.ingress (the proxy and its published ports) and pap.offsite (the
#   off-host backup repository: on a one-node swarm the same node; with more nodes, label another one
#   instead: `docker node update --label-rm pap.offsite <this> && docker node update --label-add
#   pap.offsite=true <other>`).
set -euo pipefail

BASE_IMAGE="${BASE_IMAGE:-debian:bookworm-slim}"
PUBLISH_ADDRESS="${PUBLISH_ADDRESS:-127.0.0.1}"
SWARM_INTERFACE="${SWARM_INTERFACE:-docker0}"
SUITE="${DEBIAN_SUITE:-bookworm}"
ENGINE_WAIT_SECONDS="${ENGINE_WAIT_SECONDS:-60}"

log() { echo "docker-engine: $*" >&2; }

start_engine() {
  if docker info >/dev/null 2>&1; then
    return
  fi
  command -v dockerd >/dev/null || { log "dockerd is not installed (tools/ensure-packages.sh --docker)"; exit 1; }
  log "starting dockerd (log: /var/log/dockerd.log)"
  # setsid: the daemon must outlive this script and the make/CI step that ran it.
  # --no-new-privileges: every container, swarm tasks included, starts with no_new_privs set. A Swarm
  # service cannot ask for it on API 1.41 (README, policy pack: "not expressible"), so the engine sets it.
  setsid dockerd --no-new-privileges >>/var/log/dockerd.log 2>&1 </dev/null &
  local deadline=$(( $(date +%s) + ENGINE_WAIT_SECONDS ))
  until docker info >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "dockerd did not answer within ${ENGINE_WAIT_SECONDS}s; tail of /var/log/dockerd.log:"
      tail -n 20 /var/log/dockerd.log >&2 || true
      exit 1
    fi
    sleep 1
  done
  log "dockerd is up"
}

# The first "URIs:" (deb822) or "deb" (one-line) entry for the main archive, i.e. not the security one.
# The security archive, when configured, is used inside the image too.
mirror_url() {
  local kind="$1" files=() candidate
  for candidate in /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
    [ -f "$candidate" ] && files+=("$candidate")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk -v kind="$kind" '
    /^[[:space:]]*URIs:/ { for (i = 2; i <= NF; i++) print $i }
    /^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }
  ' "${files[@]}" 2>/dev/null |
    awk -v kind="$kind" '
      /debian-security\/?$/ { if (kind == "security") { print; exit } ; next }
      /\/debian\/?$/ { if (kind == "main") { print; exit } }
    '
}

# Inside containers only plain http reaches the archive (https is re-signed by a CA only the host trusts).
as_http() { echo "${1/#https:/http:}"; }

build_base_image() {
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (tools/ensure-packages.sh --docker)"; exit 1; }
  local mirror security rootfs
  mirror="$(mirror_url main)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="$(mirror_url security)"
  rootfs="$(mktemp -d /tmp/pap-rootfs.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  log "building ${BASE_IMAGE} with debootstrap from ${mirror} (about 30 s)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >/tmp/pap-debootstrap.log 2>&1 || {
    tail -n 30 /tmp/pap-debootstrap.log >&2
    exit 1
  }
  slim_rootfs "$rootfs" "$(as_http "$mirror")" "$(as_http "${security:-}")"
  tar --numeric-owner -C "$rootfs" -c . |
    docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' \
      --change 'CMD ["bash"]' \
      --message "debootstrap --variant=minbase ${SUITE} ${mirror}" \
      - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  log "imported ${BASE_IMAGE} ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE") bytes)"
}

# What the official slim image does: apt sources inside, no caches, lists, docs or man pages, and dpkg told
# to keep it that way in every image built FROM it.
slim_rootfs() {
  local rootfs="$1" mirror="$2" security="$3"
  rm -f "$rootfs/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
    printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$security" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
      printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$rootfs/etc/apt/sources.list.d/debian.sources"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$rootfs/etc/apt/apt.conf.d/docker-no-recommends"
  printf 'Acquire::Languages "none";\n' >"$rootfs/etc/apt/apt.conf.d/docker-no-languages"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/root/.cache
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  # Set at build time by debootstrap from the host; an image must not carry it.
  : >"$rootfs/etc/hostname"
  : >"$rootfs/etc/resolv.conf"
}

gateway_bridge_binding() {
  docker network inspect docker_gwbridge \
    -f '{{index .Options "com.docker.network.bridge.host_binding_ipv4"}}' 2>/dev/null || true
}

ensure_swarm() {
  local state address node
  state="$(docker info -f '{{.Swarm.LocalNodeState}}')"
  if [ "$state" = inactive ]; then
    if [ "$(gateway_bridge_binding)" != "$PUBLISH_ADDRESS" ]; then
      docker network rm docker_gwbridge >/dev/null 2>&1 || true
      docker network create --driver bridge \
        --opt com.docker.network.bridge.name=docker_gwbridge \
        --opt com.docker.network.bridge.enable_icc=false \
        --opt com.docker.network.bridge.enable_ip_masquerade=true \
        --opt com.docker.network.bridge.host_binding_ipv4="$PUBLISH_ADDRESS" \
        docker_gwbridge >/dev/null
    fi
    address="$(ip -4 -o addr show "$SWARM_INTERFACE" | awk '{split($4, a, "/"); print a[1]; exit}')"
    [ -n "$address" ] || { log "no IPv4 address on $SWARM_INTERFACE for the swarm"; exit 1; }
    docker swarm init --advertise-addr "$address" --listen-addr "$address:2377" >/dev/null
    log "swarm initialised (manager on $address:2377, ports published on $PUBLISH_ADDRESS)"
  elif [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]; then
    log "this engine is in a swarm but not a manager: run the deploy against a manager"
    exit 1
  fi
  if [ "$(gateway_bridge_binding)" != "$PUBLISH_ADDRESS" ]; then
    log "docker_gwbridge publishes on '$(gateway_bridge_binding)', not $PUBLISH_ADDRESS: leave the swarm" \
      "(docker swarm leave --force) and run this again"
    exit 1
  fi
  node="$(docker info -f '{{.Swarm.NodeID}}')"
  docker node update --label-add pap.data=true --label-add pap.ingress=true "$node" >/dev/null
  if [ -z "$(docker node ls -q --filter node.label=pap.offsite=true)" ]; then
    docker node update --label-add pap.offsite=true "$node" >/dev/null
  fi
}

start_engine
ensure_swarm
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  log "${BASE_IMAGE} present"
else
  build_base_image
fi
