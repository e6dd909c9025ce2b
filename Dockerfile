# syntax=docker/dockerfile:1
# The qa HTTP service: CPU-only, offline at run time, with the bundled seeds already indexed.
#
#   docker build -t qa .
#   docker run --rm -p 8000:8000 qa                       # http://localhost:8000/schema
#   docker run --rm -p 8000:8000 -v qa-data:/data qa      # keep the index across containers
#
# Configuration is the QA_* environment (see qa/settings.py), e.g. -e QA_API_KEY=... -e QA_MODEL=openai.
# The service listens on 0.0.0.0 here, so writes (POST/DELETE /v1/articles) need -e QA_API_KEY=...
# (or -e QA_OPEN_WRITES=true); a widget on another site needs -e QA_CORS_ORIGINS=https://that.site.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: the virtualenv, as scripts/install.sh makes it ------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# llama-cpp-python (the `local` extra, the in-process LLM) compiles llama.cpp from its sdist.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --upgrade pip
# Pin the CPU build of torch first: an unpinned torch pulls a multi-GB CUDA build.
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
WORKDIR /app
COPY . .
# Editable, as install.sh does: prompts/ and seeds/ are found beside the package.
# GGML_NATIVE=OFF: portable CPU code, not tuned to the build machine's CPU.
RUN CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install -e ".[local]"

# --- runtime -----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# libgomp1: OpenMP for llama.cpp (torch and faiss bring their own).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin qa \
    && mkdir -p /data \
    && chown qa:qa /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    QA_INDEX_DIR=/data/index \
    QA_PORT=8000
USER qa
WORKDIR /app
# Index the bundled seeds now, as the service's user, so the container starts ready.
RUN qa ingest seeds --no-progress
EXPOSE 8000
# python:3.11-slim has no curl; urlopen raises (exit 1) on a 503 from /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('QA_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["qa", "serve", "--host", "0.0.0.0"]
