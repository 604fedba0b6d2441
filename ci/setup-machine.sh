#!/usr/bin/env bash
# Everything a Debian-like machine needs besides Rust, as root: libclang (the PostgreSQL parser
# behind `cargo xtask lint` is built with it), the PostgreSQL client tools (pg_dump, pg_restore,
# psql), PgBouncer (the pooler tests start their own), openssl (the TLS tests make their CA and
# certificates with it), and a running, configured PostgreSQL server (ci/setup-postgres.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for package in libclang-dev postgresql-client pgbouncer openssl; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash ci/setup-postgres.sh
