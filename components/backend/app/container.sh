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
  # The client stays attached, so the container's output reaches app.service's journal
  # (journalctl -u app); with Docker's journald log driver on top, each line would be logged twice.
  exec docker run --rm --name app --log-driver=none \
    -p @port:@port -e PORT=@port \
    --env-file "$CONFIGURATION_DIRECTORY/app.env" --env-file "$RUNTIME_DIRECTORY/secrets.env" \
    "$image"
  ;;
*)
  echo "usage: ${0##*/} prepare|run" >&2
  exit 64
  ;;
esac
