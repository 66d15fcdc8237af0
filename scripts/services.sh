#!/usr/bin/env bash
# Make sure the services the tests use are up: PostgreSQL, MariaDB, Redis.
# Each is started only if its port does not answer; a service that can't be started fails
# the run, because the tests that need it must run (never skip) in CI.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port name
  for _ in $(seq 1 60); do up "$1" && return 0; sleep 0.5; done
  echo "services: $2 did not come up on port $1" >&2
  return 1
}

start_postgres() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "services: PostgreSQL is not installed (apt-get install postgresql)" >&2; return 1; }
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_mariadb() {
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}

start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

status=0
for spec in "5432 postgresql start_postgres" "3306 mariadb start_mariadb" "6379 redis start_redis"; do
  set -- $spec
  if ! up "$1"; then
    echo "services: starting $2"
    "$3" || status=1
    wait_for "$1" "$2" || status=1
  fi
done
exit $status
