# warroom's image: the wheel built in one stage, installed into a slim runtime that runs as a non-root user.
#   docker build -t warroom .
#   docker run --rm -p 8080:8080 -v $PWD/warroom.yaml:/etc/warroom/warroom.yaml:ro \
#     -v $PWD/secrets:/run/secrets:ro -e WARROOM_SLACK__BOT_TOKEN_FILE=/run/secrets/slack_bot_token … warroom
# Configuration: the YAML file at $WARROOM_CONFIG; secrets as WARROOM_<SECTION>__<KEY>_FILE pointing at mounted
# files (or WARROOM_<SECTION>__<KEY> values). See the README ("Running in a container").
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY warroom ./warroom
# the wheel and every dependency's wheel, so the runtime stage installs offline from /wheels
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 warroom \
 && useradd --system --uid 10001 --gid warroom --home-dir /var/lib/warroom --create-home warroom
COPY --from=build /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-index --find-links /tmp/wheels warroom && rm -rf /tmp/wheels
USER warroom
WORKDIR /var/lib/warroom
ENV WARROOM_CONFIG=/etc/warroom/warroom.yaml \
    WARROOM_SERVER__HOST=0.0.0.0 \
    WARROOM_SERVER__PORT=8080 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('WARROOM_SERVER__PORT', '8080') + '/healthz', timeout=4); sys.exit(0 if r.status == 200 else 1)"]
ENTRYPOINT ["warroom"]
CMD ["serve"]
