#!/usr/bin/env bash
# CI step: the kit's container images, built and run for real (see .ci/containers_check.py).
# On a machine without a Docker daemon it installs podman + runc (+ debootstrap, podman-compose),
# configures podman for sandboxes that cap resource limits, builds the offline Python base image,
# then builds, runs, checks and removes the reference bento's image and the instructor demo.
#   KIT_CI_COLD=1     build the bento image with --no-cache first, then prune the dangling layers
#                     (the first build is cold anyway on a fresh machine; do not prune a shared one)
#   KIT_CI_DEMO=0     skip the demo image
#   KIT_KEEP_IMAGES=1 keep the demo image too (the base and reference images stay: they are the
#                     build cache of the next run and of tests/containers)
set -euo pipefail
cd "$(dirname "$0")/.."
export BENTOML_DO_NOT_TRACK=true
start=$(date +%s)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  ENGINE=docker
  echo "==> a Docker daemon answers: using docker"
else
  ENGINE=podman
  missing=()
  # tool:package. newuidmap and slirp4netns: the grader, as root, builds learners' images rootless.
  for pair in podman:podman runc:runc debootstrap:debootstrap podman-compose:podman-compose \
              newuidmap:uidmap slirp4netns:slirp4netns; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "==> no Docker daemon: installing ${missing[*]} (apt)"
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # podman's defaults fail in sandboxes that cap open files/processes (crun: setrlimit ... not
  # permitted), and crun fails on hybrid cgroup layouts: cap the limits, use runc with cgroupfs.
  conf=/etc/containers/containers.conf
  marker="# written by bentokit .ci/containers.sh"
  if [ ! -f "$conf" ] || head -1 "$conf" | grep -qF "$marker"; then
    nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 20000 ] && nofile=20000
    nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
    $SUDO mkdir -p /etc/containers
    $SUDO tee "$conf" >/dev/null <<CONF
$marker
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  else
    echo "==> keeping the existing $conf"
  fi
  echo "==> $(podman --version), $(runc --version | head -1)"
fi
export KIT_CONTAINER_ENGINE=$ENGINE

# No registry can be reached here: a local Python 3.11 base image, also tagged python:3.11-slim so
# that bentofiles with the default docker options build. It is rebuilt only when its recipe changes.
echo "==> offline base image"
t=$(date +%s)
extra_cas=()
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then extra_cas=(--host-cas); fi
$SUDO containers/base-image.sh --engine "$ENGINE" "${extra_cas[@]}" --alias-python-slim
base_seconds=$(( $(date +%s) - t ))

./kit setup
home=$(mktemp -d "${TMPDIR:-/tmp}/bentokit-ci-containers-home.XXXXXX")  # outside the build context
cleanup() {
  rm -rf "$home"
  if [ "${KIT_KEEP_IMAGES:-0}" != 1 ]; then
    $ENGINE rmi -f localhost/bentokit-demo:latest >/dev/null 2>&1 || true
  fi
  if [ "${KIT_CI_COLD:-0}" = 1 ]; then
    $ENGINE image prune -f >/dev/null 2>&1 || true  # layers left untagged by the --no-cache build
  fi
}
trap cleanup EXIT
BENTOML_HOME=$home .venv/bin/python .ci/containers_check.py
echo "==> base image step: ${base_seconds} s; container CI step done in $(( $(date +%s) - start )) s"
