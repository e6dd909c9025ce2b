# syntax=docker/dockerfile:1
# The qa HTTP service: CPU-only, offline at run time, with the bundled seeds already indexed.
#
#   docker build -t qa .                                  # the service (extractive answers)
#   docker build -t qa-local --build-arg QA_INSTALL=local .   # plus the in-process LLM
#   docker run --rm -p 8000:8000 qa                       # http://localhost:8000/schema
#   docker run --rm -p 8000:8000 -v qa-data:/data qa      # keep the index across containers
#
# Configuration is the QA_* environment (see qa/settings.py), e.g. -e QA_API_KEY=... -e QA_MODEL=openai.
# The image installs exactly what scripts/install.sh installs on a developer's machine: the locks in
# requirements/ (hash-checked), with llama.cpp built portable (GGML_NATIVE=OFF) for QA_INSTALL=local.
# The service listens on 0.0.0.0 here, so writes (POST/DELETE /v1/articles) need -e QA_API_KEY=...
# (or -e QA_OPEN_WRITES=true); a widget on another site needs -e QA_CORS_ORIGINS=https://that.site.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the virtualenv, made by scripts/install.sh --------------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG QA_INSTALL=service
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler for llama-cpp-python (QA_INSTALL=local compiles llama.cpp from its sdist).
RUN if [ "$QA_INSTALL" = local ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential \
        && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
COPY pyproject.toml README.md ./
COPY requirements requirements
COPY scripts scripts
COPY qa qa
COPY prompts prompts
COPY seeds seeds
RUN QA_VENV=/opt/venv QA_EDITABLE=0 scripts/install.sh "$QA_INSTALL"

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# libgomp1: OpenMP for llama.cpp and faiss.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin qa \
    && mkdir -p /data \
    && chown qa:qa /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    QA_INDEX_DIR=/data/index \
    QA_PORT=8000
USER qa
WORKDIR /home/qa
# Index the bundled seeds (inside the installed package) now, as the service's user, so the
# container starts ready.
RUN qa ingest "$(python -c 'from qa.resources import bundled_dir; print(bundled_dir("seeds"))')" --no-progress
EXPOSE 8000
# python:3.11-slim has no curl; urlopen raises (exit 1) on a 503 from /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('QA_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["qa", "serve", "--host", "0.0.0.0"]
