# scripts/lib/docker-local.sh — a Docker engine and Debian base images on a machine that
# has no registry access. Sourced (bash) by tests/integration/docker/t95-image.sh and
# scripts/check-fresh-debian.sh; needs Debian's docker.io and mmdebstrap
# (scripts/install-deps.sh installs both).
#
#   docker_local_init           sets DOCKER (Debian's client, /usr/bin/docker, when there)
#   docker_ensure_daemon LOGDIR starts `dockerd --iptables=false --bridge=none` when no
#                               daemon answers (containers then use --network host); sets
#                               DOCKERD_PID when it started one (stop it with
#                               docker_stop_daemon), else leaves it empty
#   docker_ensure_base_images   makes debian:12 and debian:12-slim from Debian's packages
#                               (mmdebstrap, then docker import) when they are absent, so
#                               docker/Dockerfile builds with no registry
#   docker_stop_daemon          stops the daemon docker_ensure_daemon started, if any

docker_local_init() {
  # Debian's client matches Debian's daemon (20.10) and uses the classic builder, as the
  # Docker packages on many NAS boxes do.
  if [ -x /usr/bin/docker ]; then DOCKER=/usr/bin/docker; else DOCKER=docker; fi
  DOCKERD_PID=
}

docker_ensure_daemon() {
  local logdir=$1 i
  "$DOCKER" info > /dev/null 2>&1 && return 0
  command -v dockerd > /dev/null || { echo "docker-local: no daemon runs and dockerd is not installed (docker.io)" >&2; return 1; }
  # No bridge and no iptables rules: nothing of the host's networking is changed.
  dockerd --iptables=false --bridge=none > "$logdir/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for ((i = 0; i < 600; i++)); do
    "$DOCKER" info > /dev/null 2>&1 && return 0
    kill -0 "$DOCKERD_PID" 2> /dev/null || break
    sleep 0.1
  done
  echo "docker-local: dockerd did not come up; its log:" >&2
  tail -n 30 "$logdir/dockerd.log" >&2
  return 1
}

docker_stop_daemon() {
  [ -n "${DOCKERD_PID:-}" ] || return 0
  kill -TERM "$DOCKERD_PID" 2> /dev/null || true
  local i
  for ((i = 0; i < 200; i++)); do
    kill -0 "$DOCKERD_PID" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL "$DOCKERD_PID" 2> /dev/null || true
  wait "$DOCKERD_PID" 2> /dev/null || true
  DOCKERD_PID=
}

docker_ensure_base_images() {
  local tag variant_opts
  for tag in debian:12 debian:12-slim; do
    "$DOCKER" image inspect "$tag" > /dev/null 2>&1 && continue
    variant_opts=()
    if [ "$tag" = debian:12-slim ]; then
      # Like the published slim image: no documentation, manual pages or translations.
      variant_opts=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
                    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
                    --dpkgopt='path-exclude=/usr/share/info/*')
    fi
    echo "docker-local: making $tag with mmdebstrap (Debian 12 minbase)"
    mmdebstrap --quiet --variant=minbase "${variant_opts[@]}" bookworm - | "$DOCKER" import - "$tag" > /dev/null \
      || { echo "docker-local: could not make $tag" >&2; return 1; }
  done
}
