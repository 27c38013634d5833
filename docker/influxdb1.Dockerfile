# InfluxDB 1.x from Debian's package, for CI and offline machines where
# influxdb:2.7 cannot be pulled (docker/compose.ci.yml uses it). The user-facing
# default in docker-compose.yml stays influxdb:2.7.
#   docker build --network host --build-arg BASE_IMAGE=loadkit-base:bookworm \
#       -f docker/influxdb1.Dockerfile -t loadkit-influxdb1:local docker
ARG BASE_IMAGE=loadkit-base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends influxdb \
 && rm -rf /var/lib/apt/lists/*
ENV INFLUXDB_REPORTING_DISABLED=true \
    INFLUXDB_DATA_QUERY_LOG_ENABLED=false \
    INFLUXDB_HTTP_LOG_ENABLED=false \
    INFLUXDB_HTTP_BIND_ADDRESS=:8086
EXPOSE 8086
CMD ["influxd", "-config", "/etc/influxdb/influxdb.conf"]
