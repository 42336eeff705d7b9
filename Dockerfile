# The agent image: mount the Docker socket's directory and point it at etcd.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY agent/ agent/
ENV PYTHONUNBUFFERED=1
STOPSIGNAL SIGTERM
# tini (PID 1) forwards every signal; the agent handles SIGTERM, SIGINT, SIGHUP and SIGUSR2 itself.
ENTRYPOINT ["tini", "--", "python", "-m", "agent"]
