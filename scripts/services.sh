#!/usr/bin/env bash
# Installs and starts the services the test suite talks to: PostgreSQL 15 with PostGIS and Redis.
# Idempotent: it only installs what is missing and only starts what is not answering.
# S3 (moto's server mode) is started by the tests themselves.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq || true; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL and PostGIS
if ! command -v pg_ctlcluster >/dev/null; then
  echo "services: installing PostgreSQL" && apt_install postgresql || echo "services: cannot install PostgreSQL"
fi
if command -v pg_ctlcluster >/dev/null; then
  pg_version=$(ls /etc/postgresql | sort -n | tail -n 1)
  if ! dpkg -s "postgresql-${pg_version}-postgis-3" >/dev/null 2>&1; then
    echo "services: installing PostGIS for PostgreSQL ${pg_version}"
    apt_install "postgresql-${pg_version}-postgis-3" || echo "services: cannot install PostGIS"
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "services: starting PostgreSQL ${pg_version}"
    as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start || true
    for _ in $(seq 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
  fi
fi

# Redis
if ! command -v redis-server >/dev/null; then
  echo "services: installing Redis" && apt_install redis-server || echo "services: cannot install Redis"
fi
if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "services: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/terrascan-redis.log
  for _ in $(seq 20); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.25; done
fi

pg_isready -h 127.0.0.1 -p 5432 || true
redis-cli -h 127.0.0.1 -p 6379 ping || true
