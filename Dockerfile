# One image for every Vigil program: vigil-producer, vigil-worker,
# vigil-scheduler, vigil-notifier, vigil-query and vigilctl. The command picks the program:
#
#   docker build -t vigil .
#   docker run --rm vigil vigil-worker --help
#
# Stage 1 builds on Debian 12 with the -dev packages of DESIGN.md; stage 2 is
# debian:12-slim with only the shared libraries those programs link. See
# docs/deployment.md.

FROM debian:12 AS build
# libcmocka-dev is needed only because configuring the project also reads
# tests/CMakeLists.txt, which insists on cmocka; nothing built here links it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      gcc libc6-dev cmake ninja-build pkg-config \
      librdkafka-dev libpq-dev libjansson-dev libconfig-dev libmicrohttpd-dev libssl-dev \
      libcurl4-openssl-dev libhiredis-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the five programs: no unit tests, no sanitizer builds of the libraries.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build --target vigil-producer vigil-worker vigil-scheduler vigil-notifier vigil-query vigilctl \
 && strip /build/bin/vigil-producer /build/bin/vigil-worker /build/bin/vigil-scheduler \
          /build/bin/vigil-notifier /build/bin/vigil-query /build/bin/vigilctl

FROM debian:12-slim
LABEL org.opencontainers.image.title="vigil" \
      org.opencontainers.image.description="Vigil event-tracking and session pipeline: vigil-producer, vigil-worker, vigil-scheduler, vigil-notifier, vigil-query, vigilctl"
# Shared libraries only (librdkafka, libpq, jansson, libconfig, libmicrohttpd,
# OpenSSL's libcrypto, libcurl for vigilctl send and the notifier's webhooks
# and e-mail, hiredis for vigil-query's cache) and CA certificates for TLS
# to Kafka, PostgreSQL and an https:// producer.
# The numeric user lets Kubernetes verify runAsNonRoot.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libjansson4 libconfig9 libmicrohttpd12 libssl3 libcurl4 libhiredis0.14 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vigil \
 && useradd --system --uid 10001 --gid vigil --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin vigil
# vigil-healthcheck: GET /healthz of the daemon running in this container,
# with bash's /dev/tcp instead of curl (and its dozen libraries). It finds the
# program among the processes and its port in the usual variables;
# VIGIL_HEALTHCHECK_PORT overrides. A container running vigilctl is healthy.
RUN printf '%s\n' \
      '#!/bin/bash' \
      '# Exit 0 if the Vigil daemon of this container answers GET /healthz with 200.' \
      'port=${VIGIL_HEALTHCHECK_PORT:-}' \
      'if [ -z "$port" ]; then' \
      '  for f in /proc/[0-9]*/comm; do' \
      '    case $(cat "$f" 2>/dev/null) in' \
      '      vigil-producer) port=${VIGIL_PRODUCER_PORT:-8080}; break ;;' \
      '      vigil-worker) port=${VIGIL_WORKER_HTTP_PORT:-9111}; break ;;' \
      '      vigil-scheduler) port=${VIGIL_SCHEDULER_HTTP_PORT:-9101}; break ;;' \
      '      vigil-notifier) port=${VIGIL_NOTIFIER_HTTP_PORT:-9121}; break ;;' \
      '      vigil-query) port=${VIGIL_QUERY_PORT:-8081}; break ;;' \
      '    esac' \
      '  done' \
      'fi' \
      '[ -n "$port" ] || exit 0' \
      'exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1' \
      'printf "GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3' \
      'IFS= read -r -t 2 status <&3 || exit 1' \
      'case $status in "HTTP/1."?" 200"*) exit 0 ;; esac' \
      'exit 1' \
      > /usr/local/bin/vigil-healthcheck \
 && chmod 0755 /usr/local/bin/vigil-healthcheck
COPY --from=build /build/bin/vigil-producer /build/bin/vigil-worker /build/bin/vigil-scheduler \
                  /build/bin/vigil-notifier /build/bin/vigil-query /build/bin/vigilctl /usr/local/bin/
# Migrations for `vigilctl migrate`; the production config (no tenants, no
# keys, listens on 0.0.0.0). Mount your own over /etc/vigil/vigil.conf.
COPY schemas/sql/ /usr/share/vigil/sql/
COPY config/vigil.production.conf /etc/vigil/vigil.conf
ENV VIGIL_CONFIG=/etc/vigil/vigil.conf \
    VIGIL_SCHEMAS_DIR=/usr/share/vigil/sql
USER 10001:10001
# 8080: producer API and health (its metrics on 9102, internal); 8081: the read
# API and dashboard; 9101: scheduler, 9111: worker and 9121: notifier health
# and metrics.
EXPOSE 8080 8081 9101 9102 9111 9121
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["vigil-healthcheck"]
CMD ["vigil-producer"]
