#!/bin/bash
# The app's container image, for app.service (components/backend/app/app.service):
#   container prepare  clears a container left behind, logs in to a private ECR registry, pulls
#   container run      runs the image in the foreground, where systemd supervises it
# Rendered by components/backend/user_data.py from the stack's appImage and appPort.
set -euo pipefail
image=@image
registry=@registry  # empty: a public registry, no login
registry_region=@registry_region
# The registry's login token stays on the tmpfs with the secrets, not in /root/.docker.
export DOCKER_CONFIG=$RUNTIME_DIRECTORY/docker

case ${1-} in
prepare)
  # A client killed without --rm's clean-up leaves a container whose name the next run needs.
  docker rm --force app >/dev/null 2>&1 || true
  if [[ -n $registry ]]; then
    aws ecr get-login-password --region "$registry_region" |
      docker login --username AWS --password-stdin "$registry"
  fi
  docker pull --quiet "$image"
  ;;
run)
  # Of Docker's default capabilities, only those an entrypoint needs to step down from root to
  # its own user (gosu, su-exec, nginx's workers: CHOWN, SETUID, SETGID), and the port's if it
  # is below 1024. Gone: NET_RAW (spoofed packets), MKNOD, DAC_OVERRIDE, FOWNER, SETFCAP, ...
  # ("${capabilities[@@]}": the repository's copy of this script doubles its at sign.)
  capabilities=(--cap-drop ALL --cap-add CHOWN --cap-add SETUID --cap-add SETGID)
  if ((@port < 1024)); then
    capabilities+=(--cap-add NET_BIND_SERVICE)
  fi
  # All the instance's memory but 256 MiB, left to the kernel, dockerd and the SSM agent (half of
  # it on an instance too small for that): the OOM killer then ends the container, not the host.
  memory_kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
  reserved_kib=$((256 * 1024))
  if ((memory_kib < 2 * reserved_kib)); then
    reserved_kib=$((memory_kib / 2))
  fi
  # No --read-only: many images write to /tmp, /var/cache or a directory of their own, and each
  # would need its own --tmpfs list. What they write stays in the container's own layer anyway.
  # The client stays attached, so the container's output reaches app.service's journal
  # (journalctl -u app); with Docker's journald log driver on top, each line would be logged twice.
  exec docker run --rm --name app --log-driver=none \
    --security-opt no-new-privileges "${capabilities[@@]}" --pids-limit 512 \
    --memory "$((memory_kib - reserved_kib))k" \
    -p @port:@port -e PORT=@port \
    --env-file "$CONFIGURATION_DIRECTORY/app.env" --env-file "$RUNTIME_DIRECTORY/secrets.env" \
    "$image"
  ;;
*)
  echo "usage: ${0##*/} prepare|run" >&2
  exit 64
  ;;
esac
