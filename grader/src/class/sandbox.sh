#!/bin/sh
# One submission's grading, in a sandbox. Written by `grader/src/class/sandbox.rs`, which
# sets the SANDBOX_* variables below and passes the grading command as "$@".
#
# 1. Joins the cgroups named in SANDBOX_CGROUPS (their `cgroup.procs` files): every
#    process started from here on counts against their process and memory limits.
# 2. In a mount namespace of its own (`unshare` runs this script again with `inner`):
#    a tmpfs of SANDBOX_DISK bytes holds everything the grading writes, and the course's
#    `target/` (SANDBOX_TARGET) is mounted over itself as an overlay whose upper layer is
#    that tmpfs. The grading sees every dependency already compiled, writes only to its
#    own copy, and whatever it writes vanishes with the namespace: nothing reaches the
#    shared `target/` or another submission.
# 3. Runs "$@": prlimit (the size of one file, open files), then bubblewrap, whose
#    arguments sandbox.rs builds:
#    no network but loopback, a process tree of its own that dies with it, the system
#    read-only; the instructor's home, /tmp, the submissions and the reports hidden
#    behind SANDBOX_HIDDEN empty folders of the tmpfs).
# 4. When the command is done, says on stderr if the disk was full, since a program
#    that cannot write often fails in ways that do not say so.
set -eu

if [ "${1:-}" != inner ]; then
  for procs in ${SANDBOX_CGROUPS:-}; do
    echo $$ >"$procs"
  done
  exec unshare --mount --propagation private -- "$0" inner "$@"
fi
shift

disk=$SANDBOX_SCRATCH/disk
mkdir -p "$disk"
mount -t tmpfs -o "size=$SANDBOX_DISK,mode=0755" sandbox "$disk"
mkdir "$disk/upper" "$disk/work"
# The empty folders that stand for hidden ones (bubblewrap binds them over those).
i=0
while [ "$i" -lt "${SANDBOX_HIDDEN:-0}" ]; do
  mkdir -p "$disk/hide/$i"
  i=$((i + 1))
done
mount -t overlay overlay \
  -o "lowerdir=$SANDBOX_TARGET,upperdir=$disk/upper,workdir=$disk/work" "$SANDBOX_TARGET"

status=0
"$@" || status=$?
used=$(df -k --output=pcent "$disk" | tail -n 1 | tr -dc 0-9)
if [ "${used:-0}" -ge 99 ]; then
  echo "SANDBOX: disk full" >&2
fi
exit "$status"
