# Production image: the API server by default; the same image runs other processes by overriding the command
# (compose.yaml runs it as each service).
# DATABASE_URL must point at an external PostgreSQL (with the btree_gist extension available).

FROM python:3.11-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends make=4.3-4.1 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
# The same install a developer gets from `make install`, without the test tools.
RUN make install VENV=/app/.venv EXTRAS=

FROM python:3.11-slim-bookworm AS runtime
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build --chown=app:app /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001
EXPOSE 8000
# No image-wide HEALTHCHECK: the same image runs the web server, the scheduler and the mail catcher, and each
# service in compose.yaml declares the check that fits what it runs.
CMD ["fcom", "serve"]
