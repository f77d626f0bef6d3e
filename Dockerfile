# ragd on Debian 12 (bookworm). The build stage compiles with the -dev packages (the same list
# as scripts/deps.sh) and runs `make install`; the runtime stage has the shared libraries the
# binary links, the web UI's JavaScript libraries and nothing else, and runs as a user of its
# own.
#
#   docker build -t ragd .
#   docker run -d -p 8000:8000 -v ragd-data:/var/lib/ragd --env-file ragd.env ragd
#
# Configuration is the environment (see .env.example / `ragd config check`); the data
# directory (SQLite database, indexes, generated secrets) is the volume /var/lib/ragd.

FROM debian:bookworm-slim AS build
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential pkg-config ca-certificates \
        libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev \
        libpq-dev libhiredis-dev libpcre2-dev libutf8proc-dev libcrypt-dev \
        libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev libjpeg-dev \
        libfreetype-dev libharfbuzz-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j"$(nproc)" release \
    && make install PREFIX=/usr DESTDIR=/out

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates curl \
        libmicrohttpd12 libjansson4 libsqlite3-0 libssl3 libcurl4 libpq5 libhiredis0.14 \
        libpcre2-8-0 libutf8proc2 libcrypt1 zlib1g \
        libmujs2 libgumbo1 libopenjp2-7 libjbig2dec0 libjpeg62-turbo libfreetype6 \
        libpng16-16 libharfbuzz0b \
        libjs-chart.js libjs-marked node-dompurify \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --user-group --home-dir /var/lib/ragd --shell /usr/sbin/nologin ragd \
    && install -d -o ragd -g ragd -m 0700 /var/lib/ragd
COPY --from=build /out/ /
ENV API_HOST=0.0.0.0 \
    API_PORT=8000 \
    RAGD_DATA_DIR=/var/lib/ragd
USER ragd
WORKDIR /var/lib/ragd
VOLUME ["/var/lib/ragd"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${API_PORT}/health" >/dev/null || exit 1
# SIGTERM drains in-flight requests (SHUTDOWN_DRAIN_SECONDS); give it the time to.
STOPSIGNAL SIGTERM
CMD ["ragd", "serve", "--data", "/var/lib/ragd"]
