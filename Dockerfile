# One image for every Vigil program. Build: docker build -t vigil .
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev libpq-dev libjansson-dev libconfig-dev libmicrohttpd-dev \
      libssl-dev libcmocka-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build /build --target vigil-producer vigil-worker vigil-scheduler vigilctl

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      librdkafka1 libpq5 libjansson4 libconfig9 libmicrohttpd12 libssl3 curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home vigil
COPY --from=build /build/bin/ /usr/local/bin/
COPY schemas/sql/ /usr/share/vigil/sql/
COPY config/vigil.conf /etc/vigil/vigil.conf
ENV VIGIL_CONFIG=/etc/vigil/vigil.conf VIGIL_SCHEMAS_DIR=/usr/share/vigil/sql
USER vigil
EXPOSE 8080 9101 9111
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${VIGIL_HEALTH_PORT:-8080}/healthz" || exit 1
ENTRYPOINT ["vigil-producer"]
