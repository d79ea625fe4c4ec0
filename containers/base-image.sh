#!/usr/bin/env bash
# Build a Python 3.11 base image locally, for machines that cannot pull `python:3.11-slim`
# (no registry, or a proxy that breaks registry TLS): debootstrap of Debian bookworm with python3,
# venv, pip and CA certificates, imported into podman (or docker).
#
#   sudo containers/base-image.sh [options]
#
#   --tag NAME:TAG        image to create (default localhost/bentokit-python:3.11)
#   --engine podman|docker  (default: docker when its daemon answers, else podman)
#   --extra-ca PATH       add a PEM CA certificate (a file, or a folder of *.crt) to the image's trust
#                         store; repeatable. Needed behind corporate/campus proxies that intercept HTTPS.
#   --host-cas            add the host's extra CAs (/usr/local/share/ca-certificates/*.crt)
#   --alias-python-slim   also tag the image as docker.io/library/python:3.11-slim, so bentos built
#                         with the default `docker:` options containerize without a registry
#   --mirror URL          Debian mirror (default http://deb.debian.org/debian)
#   --force               rebuild even when an image built from the same recipe exists
#
# The image sets PIP_BREAK_SYSTEM_PACKAGES=1 (Debian's pip refuses system installs otherwise, PEP 668),
# SSL_CERT_FILE/REQUESTS_CA_BUNDLE/PIP_CERT to the system bundle (uv ignores the store without them),
# and PIP_NO_CACHE_DIR/UV_NO_CACHE so that package caches do not end up in image layers.
# Needs root (debootstrap). The root filesystem is made under $TMPDIR (default /var/tmp), outside
# any bento build context, and removed afterwards.
set -euo pipefail

TAG=localhost/bentokit-python:3.11
ENGINE=${KIT_CONTAINER_ENGINE:-}
MIRROR=http://deb.debian.org/debian
ALIAS=0
FORCE=0
CAS=()
PACKAGES=python3,python3-venv,python3-pip,python-is-python3,ca-certificates

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "base-image: error: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=$2; shift 2 ;;
    --engine) ENGINE=$2; shift 2 ;;
    --extra-ca) [ -e "$2" ] || die "--extra-ca $2: no such file or folder"; CAS+=("$2"); shift 2 ;;
    --host-cas) CAS+=(/usr/local/share/ca-certificates); shift ;;
    --alias-python-slim) ALIAS=1; shift ;;
    --mirror) MIRROR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

if [ -z "$ENGINE" ]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  elif command -v podman >/dev/null; then ENGINE=podman
  else die "no container engine: install podman (apt-get install podman runc) or Docker"; fi
fi
command -v "$ENGINE" >/dev/null || die "$ENGINE is not installed"
[ "$(id -u)" = 0 ] || die "debootstrap needs root: run with sudo"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"

# The extra CA certificates, expanded to a sorted list of files.
CA_FILES=()
for ca in "${CAS[@]}"; do
  if [ -d "$ca" ]; then
    while IFS= read -r f; do CA_FILES+=("$f"); done < <(find "$ca" -maxdepth 1 -name '*.crt' -type f | sort)
  else
    CA_FILES+=("$ca")
  fi
done
for f in "${CA_FILES[@]}"; do
  grep -q 'BEGIN CERTIFICATE' "$f" || die "$f is not a PEM certificate"
done

# A recipe hash: an image built from the same script, packages, mirror and CAs is reused.
RECIPE=$( { cat "$0"; echo "$PACKAGES $MIRROR"; for f in "${CA_FILES[@]}"; do cat "$f"; done; } |
          sha256sum | cut -c1-16)
if [ "$FORCE" = 0 ] && [ "$("$ENGINE" image inspect --format '{{ index .Config.Labels "kit.recipe" }}' \
        "$TAG" 2>/dev/null || true)" = "$RECIPE" ]; then
  echo "base-image: $TAG is up to date (recipe $RECIPE)"
else
  ROOTFS=$(mktemp -d "${TMPDIR:-/var/tmp}/bentokit-rootfs.XXXXXX")
  trap 'rm -rf "$ROOTFS"' EXIT
  echo "base-image: debootstrap bookworm into $ROOTFS (a minute or two)"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOTFS" "$MIRROR" \
    > "$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; die "debootstrap failed (log: $ROOTFS.log)"; }
  rm -f "$ROOTFS.log"

  for f in "${CA_FILES[@]}"; do
    cp "$f" "$ROOTFS/usr/local/share/ca-certificates/kit-$(basename "${f%.crt}").crt"
  done
  [ ${#CA_FILES[@]} = 0 ] || echo "base-image: added ${#CA_FILES[@]} extra CA certificate(s)"
  chroot "$ROOTFS" update-ca-certificates >/dev/null

  # Like Debian's slim images: no docs, man pages or locales from later installs either.
  cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/kit-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
  # Like Debian's official container images: apt deletes downloaded packages after installing
  # them and keeps its lists compressed, so an `apt-get install` layer holds only what it installs.
  cat > "$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'Acquire::Languages "none";' > "$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
  printf '%s\n' 'Acquire::GzipIndexes "true";' 'Acquire::CompressionTypes::Order:: "gz";' \
    > "$ROOTFS/etc/apt/apt.conf.d/docker-gzip-indexes"
  find "$ROOTFS/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
  rm -rf "$ROOTFS"/usr/share/{man,info,locale}/* "$ROOTFS"/var/cache/apt/*.bin \
         "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*
  find "$ROOTFS/usr/lib/python3" "$ROOTFS/usr/lib/python3.11" -name __pycache__ -type d -prune \
       -exec rm -rf {} + 2>/dev/null || true
  echo "deb $MIRROR bookworm main" > "$ROOTFS/etc/apt/sources.list"
  echo "deb $MIRROR bookworm-updates main" >> "$ROOTFS/etc/apt/sources.list"

  bundle=/etc/ssl/certs/ca-certificates.crt
  echo "base-image: importing into $ENGINE as $TAG"
  tar -C "$ROOTFS" --numeric-owner -c . | "$ENGINE" import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "ENV PIP_BREAK_SYSTEM_PACKAGES=1" \
    --change "ENV PIP_NO_CACHE_DIR=1" \
    --change "ENV UV_NO_CACHE=1" \
    --change "ENV SSL_CERT_FILE=$bundle" \
    --change "ENV REQUESTS_CA_BUNDLE=$bundle" \
    --change "ENV PIP_CERT=$bundle" \
    --change "LABEL kit.recipe=$RECIPE" \
    --change 'CMD ["python3"]' \
    - "$TAG" >/dev/null
fi

if [ "$ALIAS" = 1 ]; then
  "$ENGINE" tag "$TAG" docker.io/library/python:3.11-slim
  echo "base-image: also tagged as docker.io/library/python:3.11-slim"
fi
"$ENGINE" run --rm "$TAG" python3 -c \
  'import ssl, sys, venv; print("base-image: ok, Python", sys.version.split()[0], "|", ssl.OPENSSL_VERSION)'
