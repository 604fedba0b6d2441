#!/usr/bin/env bash
# Makes sure a PostgreSQL server runs on 127.0.0.1:5432 for the tests, as root on a Debian-like
# machine: installs it with apt-get when missing, starts the cluster when stopped, and makes
# members of the role bomizzel_password_required log in with a password (everyone else keeps
# trust auth), so the wrong-password test meets a server that really checks passwords.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
fi

version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
if ! pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null 2>&1; then
  echo "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

# Loopback trust for the test superuser, as the tests connect without a password.
hba=$conf/pg_hba.conf
marker="# bomizzel tests"
if ! grep -q "$marker" "$hba"; then
  tmp=$(mktemp)
  {
    echo "$marker: password-checked role, then trust on loopback"
    echo "host all +bomizzel_password_required 127.0.0.1/32 scram-sha-256"
    echo "host all +bomizzel_password_required ::1/128 scram-sha-256"
    echo "local all postgres trust"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
    cat "$hba"
  } >"$tmp"
  cat "$tmp" >"$hba"
  rm -f "$tmp"
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload
fi

for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432

psql -X -q -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bomizzel_password_required') THEN
    CREATE ROLE bomizzel_password_required NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'root') THEN
    CREATE ROLE root SUPERUSER LOGIN;
  END IF;
END
$$;
SQL
echo "PostgreSQL $version ready on 127.0.0.1:5432"
