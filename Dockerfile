# The agent image. Build: `make image` (or `docker build .`); see README "Running the image".
# Two stages. `build`: Debian's python3 and tini on any Debian bookworm base (BASE; CI imports one made with
# debootstrap under this same tag, as no registry is reachable), the venv with the pinned wheels, and in /rootfs
# only what the agent runs (scripts/image-rootfs says what and why). The image: that folder and the agent, no
# shell, no apt, no pip.
ARG BASE=debian:bookworm-slim
FROM ${BASE} AS build
# upgrade: the image takes libc and the other libraries from here, and the base may be an old debootstrap
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update \
 && apt-get upgrade -y \
 && apt-get install -y --no-install-recommends python3 python3-venv tini binutils \
 && rm -rf /var/lib/apt/lists/*
# build/wheels, when present, holds the pinned wheels downloaded beforehand (`make image` does it):
# then nothing is fetched from an index during the build.
COPY requirements.txt build* /src/
RUN python3 -m venv /opt/venv \
 && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install -q --no-cache-dir --no-index --find-links /src/wheels -r /src/requirements.txt; \
    else /opt/venv/bin/pip install -q --no-cache-dir -r /src/requirements.txt; fi
COPY scripts/image-rootfs /src/
RUN python3 /src/image-rootfs /rootfs
COPY agent/ /app/agent/
RUN chmod -R a+rX,go-w /app \
 && python3 -m compileall -q -j0 --invalidation-mode checked-hash /app/agent

FROM scratch
COPY --from=build /rootfs/ /
COPY --from=build /app/ /app/
WORKDIR /app
# No locales in the image: Python runs in UTF-8 mode.
ENV PATH=/opt/venv/bin:/usr/bin PYTHONUTF8=1 PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 CMD ["python", "-m", "agent", "healthcheck"]
# tini is PID 1 and forwards every signal; the agent handles SIGTERM, SIGINT, SIGHUP and SIGUSR2 itself.
ENTRYPOINT ["tini", "--", "python", "-m", "agent"]
