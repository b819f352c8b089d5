#!/bin/sh
# Makes the container look enough like a host for dockerd, then runs it with the arguments given.
#
# Without --privileged (which this host refuses: its bounding set lacks CAP_SYS_RESOURCE, so runc cannot
# grant every capability) Docker mounts /sys and the cgroup hierarchies read-only; the engine must create
# cgroups for its task containers, so they are remounted read-write (CAP_SYS_ADMIN, no AppArmor profile).
set -eu

remount_rw() {
  # A bind mount changes only its own read-only flag with remount,bind; a plain remount also works for /sys.
  mount -o remount,bind,rw "$1" 2>/dev/null || mount -o remount,rw "$1"
}

grep -q ' /sys sysfs ro[, ]' /proc/mounts && remount_rw /sys
awk '$2 ~ "^/sys/fs/cgroup" && $4 ~ "^ro(,|$)" { print $2 }' /proc/mounts | while read -r hierarchy; do
  remount_rw "$hierarchy"
done

# cgroup v2 (not this host, a user's): the container's processes move to a child group so that the root
# group may delegate controllers to the task containers' groups, as moby's hack/dind does.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
fi

exec dockerd "$@"
