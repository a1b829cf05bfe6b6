# One image for all of mohstats: the daemons, the admin command (mohstats-admin), the migration step, the demo
# world and the MQTT broker's plugin. docker-compose.yml runs one service per daemon from it and chooses the binary
# with `command:` (the demo: scripts/demo.sh run).

# --- build: the Debian 12 toolchain and -dev packages of scripts/deps.sh, then the daemons only -----------------
FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libuv1-dev libhiredis-dev libpq-dev libmariadb-dev libcjson-dev libcurl4-openssl-dev libcmocka-dev \
      node-llhttp libmosquitto-dev mosquitto-dev libgeoip-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY common/ common/
COPY ingestd/ ingestd/
COPY queryd/ queryd/
COPY authd/ authd/
COPY achievd/ achievd/
COPY ratingd/ ratingd/
COPY demo/ demo/
COPY admin/ admin/
# The top-level CMakeLists.txt configures tests/ too (it needs the directory to exist); only the daemons and the demo
# world are built.
COPY tests/ tests/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build -j"$(nproc)" --target ingestd queryd authd achievd ratingd demo_world mohstats-admin \
      mohstats_broker_auth

# --- runtime: shared libraries, curl for health checks, psql and mariadb clients for scripts/migrate.sh -------
FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libuv1 libhiredis0.14 libpq5 libmariadb3 libcjson1 libcurl4 libgeoip1 geoip-database \
      mosquitto ca-certificates curl postgresql-client-15 mariadb-client libjs-chart.js \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mohstats \
 && install -d -o mohstats -g mohstats /var/lib/mohstats/spool /var/lib/mohstats/demo \
      /var/lib/mohstats/mqtt /var/lib/mohstats/mqtt-data
COPY --from=build /src/build/ingestd /src/build/queryd /src/build/authd /src/build/achievd /src/build/ratingd \
     /src/build/demo_world /src/build/mohstats-admin /usr/local/bin/
# The MQTT broker's login plugin (the `mqtt` service runs mosquitto from this image with it).
COPY --from=build /src/build/mohstats_broker_auth.so /usr/local/lib/mohstats/
COPY deploy/mosquitto/mosquitto.conf /etc/mohstats/mosquitto.conf
COPY scripts/migrate.sh scripts/demo.sh /app/scripts/
COPY schemas/ /app/schemas/
# The dashboard's pages (queryd's WEB_DIR default when it is not beside the binary).
COPY web/ /usr/share/mohstats/web/
WORKDIR /app
# Nothing in the image needs root; the daemons only listen on unprivileged ports.
USER mohstats
CMD ["queryd", "--help"]
