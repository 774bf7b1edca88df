#!/usr/bin/env bash
# Installs what the tests start and compare against, when it is missing:
# - Debian packages: MariaDB and PostgreSQL servers (they write real logs during the tests),
#   percona-toolkit (pt-query-digest) and pgbadger (the peers the log parsers must agree with),
#   chromium (renders the log report headless);
# - PyPI packages from tests/requirements.txt: moto's S3/Glue server, boto3, DuckDB, pyarrow, PySpark.
set -euo pipefail
cd "$(dirname "$0")"

packages=(mariadb-server mariadb-client postgresql percona-toolkit pgbadger bzip2 chromium)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q -r requirements.txt
