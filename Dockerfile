# The whole toolchain in one image: Python 3.12 (the version MWAA and the DAG tests use; the
# pinned requirements install and the core, adapter, Lambda and local-runtime tests pass on
# it), Node.js 20 with the pinned CDK CLI, Java 17 (local Spark in the tests), make, and the
# project's pinned virtualenvs.
#   docker build -t retail-etl .
#   docker run --rm retail-etl                     # make demo
#   docker run --rm retail-etl test                # make test
#   docker run --rm retail-etl synth               # offline cdk synth + cfn-lint
#   docker run --rm -e AWS_PROFILE=prod -v ~/.aws:/home/retail/.aws:ro retail-etl deploy ENV=prod
# Not built in this project's CI (no container engine there): `make lint` runs hadolint on it.

FROM node:20.19-bookworm-slim AS node

FROM python:3.12.12-slim-bookworm

# Debian 12 packages, pinned to the bookworm versions tested.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        make=4.3-4.1 \
        openjdk-17-jre-headless=17.0.* \
        procps=2:4.0.2-3 \
    && rm -rf /var/lib/apt/lists/*

COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx

RUN useradd --create-home --uid 1000 retail
WORKDIR /home/retail/retail-etl

# Dependencies first, so a code change does not reinstall them.
COPY --chown=1000:1000 Makefile requirements.txt requirements-dev.txt constraints.txt \
    requirements-airflow.txt package.json package-lock.json ./
COPY --chown=1000:1000 dags/constraints.txt dags/constraints.txt
USER 1000
RUN make .venv/.deps-installed node_modules/.installed .venv-airflow/.installed

COPY --chown=1000:1000 . .
# the project itself, editable: the `retail-etl` command
RUN make venv

ENTRYPOINT ["make"]
CMD ["demo"]
