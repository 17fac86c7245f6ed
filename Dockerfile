# imagine-bot: `docker build -t imagine-bot . && docker run --env-file .env -v imagine-data:/data imagine-bot`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
COPY emulator ./emulator
COPY app ./app
RUN pip install -r requirements.lock \
    && pip install --no-deps . \
    && useradd --create-home --uid 10001 imagine \
    && mkdir -p /data \
    && chown imagine:imagine /data

USER imagine
ENV IMAGINE_DB_PATH=/data/imagine-bot.db \
    IMAGINE_OUTPUT_DIR=/data/imagine-output \
    IMAGINE_HEALTH_PORT=8080
VOLUME ["/data"]
EXPOSE 8080

# `health` asks the running bot's /readyz: store writable, platforms connected, image
# service reachable. A platform connection that dies for good also ends the process.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["imagine-bot", "health"]

CMD ["imagine-bot", "run"]
