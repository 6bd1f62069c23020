#!/bin/bash
# Fetches the app's secrets by name, at each start of the app, into $RUNTIME_DIRECTORY/secrets.env
# (/run/app: a tmpfs directory only root can open, removed when the app stops). Their values reach
# neither the user data, nor the launch template, nor the Pulumi state, nor the disk.
# Rendered by components/backend/user_data.py from the stack's appSecrets.
set -euo pipefail
umask 077
reader=@reader
target=$RUNTIME_DIRECTORY/secrets.env
partial=$target.partial
trap 'rm -f -- "$partial"' EXIT
printf '# Fetched by %s at each start of the app: do not edit.\n' "$0" >"$partial"

# Appends NAME=<its standard input> to the file, written for the file's reader: Docker's
# --env-file takes the rest of the line literally, systemd's EnvironmentFile= reads double quotes
# in which \ escapes " \ ` and $. Neither can hold a line break in a value.
put() {
  local value
  value=$(cat)
  if [[ $value == *[$'\n\r']* ]]; then
    echo "fetch-secrets: the value of $1 has a line break; an environment file cannot hold it" >&2
    return 1
  fi
  if [[ $reader == systemd ]]; then
    # sed rather than ${value//...}: bash 5.2 gives & in that replacement a meaning of its own.
    # shellcheck disable=SC2001
    value=\"$(sed 's/[\\"`$]/\\&/g' <<<"$value")\"
  fi
  printf '%s=%s\n' "$1" "$value" >>"$partial"
}

# One line per secret: the AWS CLI prints the value, put writes it. --name=/--secret-id= keep a
# name that starts with - from reading as an option.
@fetches
mv -f -- "$partial" "$target"
