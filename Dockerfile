# lstm-tuner: one image for every role (create, worker, dashboard); see docker-compose.yml.
FROM python:3.11-slim-bookworm

# TensorFlow's thread pools: one worker per core runs best with one thread each;
# raise them for fewer, bigger workers (docker run -e TF_NUM_INTRAOP_THREADS=4 ...).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_NUM_INTRAOP_THREADS=1 \
    TF_NUM_INTEROP_THREADS=1 \
    TUNER_ARTIFACTS=/artifacts \
    TUNER_COMPILE_CACHE=/xla-cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY tuner ./tuner
RUN pip install . \
    && useradd --create-home --uid 10001 tuner \
    && mkdir -p /artifacts /xla-cache \
    && chown tuner /app /artifacts /xla-cache
COPY studies ./studies

USER tuner
ENTRYPOINT ["tuner"]
CMD ["--help"]
