# The agent image. Build: `make image` (or `docker build .`); see README "Running the image".
# BASE is any Debian bookworm image; CI imports one made with debootstrap under this same tag.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv tini ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/*
# build/wheels, when present, holds the pinned wheels downloaded beforehand (`make image` does it):
# then nothing is fetched from an index during the build.
COPY requirements.txt build* /src/
RUN python3 -m venv /opt/venv \
 && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /src/wheels -r /src/requirements.txt; \
    else /opt/venv/bin/pip install --no-cache-dir -r /src/requirements.txt; fi \
 && rm -rf /src
COPY agent/ /app/agent/
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "agent", "healthcheck"]
# tini is PID 1 and forwards every signal; the agent handles SIGTERM, SIGINT, SIGHUP and SIGUSR2 itself.
ENTRYPOINT ["tini", "--", "python", "-m", "agent"]
