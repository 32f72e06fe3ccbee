# Production image: the official Airflow image plus Java 17, the project's pinned Python
# dependencies, the delta-spark jars and the project code. One image runs every service of
# docker-compose.yaml (Airflow components, the MLflow server and the Spark Connect server).
#
# Versions: requirements.txt / constraints.txt are the source of truth; the ARG defaults below
# repeat them because Docker needs them before pip runs. tests/deploy/test_production_stack.py
# fails when they drift apart, and the build itself checks the installed pyspark / delta-spark
# versions against SPARK_VERSION / DELTA_VERSION.
#
#   docker build -t mlops-lakehouse:0.1.0 .      (or: docker compose build)
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
ARG SPARK_VERSION=4.2.0
# Spark major.minor: delta-spark 4.x publishes one artifact per Spark minor line.
ARG SPARK_BINARY_VERSION=4.2
ARG SCALA_BINARY_VERSION=2.13
ARG DELTA_VERSION=4.4.1
ARG JAVA_PACKAGE=openjdk-17-jre-headless
ARG MAVEN_REPOSITORY=https://repo1.maven.org/maven2

# ---- system packages (root) --------------------------------------------------------------------
USER root
# Debian slim images ship without man directories, which the openjdk post-install step expects.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends "${JAVA_PACKAGE}" \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")" /usr/lib/jvm/default-java-17 \
    && java -version
ENV JAVA_HOME=/usr/lib/jvm/default-java-17

# delta-spark jars for the Spark Delta data source. Delta 4.x publishes one artifact per Spark
# minor line (delta-spark_<spark major.minor>_<scala>), the name `configure_spark_with_delta_pip`
# asks for; delta-storage has no Scala suffix. Spark already ships antlr4-runtime, the other
# runtime dependency. Each download is checked against Maven Central's published SHA-1.
RUN set -eux; \
    test "${SPARK_VERSION%.*}" = "${SPARK_BINARY_VERSION}"; \
    mkdir -p /opt/delta/jars; \
    for coord in "delta-spark_${SPARK_BINARY_VERSION}_${SCALA_BINARY_VERSION}" "delta-storage"; do \
      jar="${coord}-${DELTA_VERSION}.jar"; \
      url="${MAVEN_REPOSITORY}/io/delta/${coord}/${DELTA_VERSION}/${jar}"; \
      curl -fsSL --retry 3 -o "/opt/delta/jars/${jar}" "${url}"; \
      echo "$(curl -fsSL --retry 3 "${url}.sha1" | cut -c1-40)  /opt/delta/jars/${jar}" | sha1sum -c -; \
    done; \
    chmod 0644 /opt/delta/jars/*.jar
# include/mlops/spark.py puts these on spark.jars and turns on the Delta extension and catalog.
ENV MLOPS_DELTA_JARS=/opt/delta/jars/delta-spark_${SPARK_BINARY_VERSION}_${SCALA_BINARY_VERSION}-${DELTA_VERSION}.jar,/opt/delta/jars/delta-storage-${DELTA_VERSION}.jar

# Writable state lives in named volumes mounted on these directories; Docker copies the
# ownership of an image directory into an empty named volume, so the airflow user owns them.
RUN mkdir -p /opt/mlops/lakehouse /opt/mlops/landing /opt/mlflow/artifacts /opt/airflow/auth \
    && chown -R airflow:0 /opt/mlops /opt/mlflow /opt/airflow/auth \
    && chmod -R g+rwX /opt/mlops /opt/mlflow /opt/airflow/auth

# ---- Python dependencies (airflow user, the official image's way) -------------------------------
USER airflow
COPY --chown=airflow:0 requirements.txt requirements-nodeps.txt constraints.txt /opt/airflow/
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/airflow/requirements.txt \
        -c /opt/airflow/constraints.txt \
    && pip install --no-cache-dir --no-deps -r /opt/airflow/requirements-nodeps.txt -c /opt/airflow/constraints.txt \
    && test "$(python -c 'import pyspark; print(pyspark.__version__)')" = "${SPARK_VERSION}" \
    && test "$(python -c 'import delta; print(delta.__version__)')" = "${DELTA_VERSION}" \
    && python -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' > /tmp/pyspark-home

# pyspark's pip package is the Spark distribution (bin/, jars/ with the Spark Connect server).
USER root
RUN ln -s "$(cat /tmp/pyspark-home)" /opt/spark \
    && rm /tmp/pyspark-home \
    && test -f "/opt/spark/jars/spark-connect_${SCALA_BINARY_VERSION}-${SPARK_VERSION}.jar"
ENV SPARK_HOME=/opt/spark \
    SPARK_CONNECT_JAR=/opt/spark/jars/spark-connect_${SCALA_BINARY_VERSION}-${SPARK_VERSION}.jar

# ---- project code -------------------------------------------------------------------------------
# The project installs as a package (pyproject.toml): mlops from include/, mlops_airflow from plugins/,
# the built-in use cases from usecases/ (each with its config/). Editable, so the code stays in these
# folders (in development, docker-compose bind-mounts them); --no-deps: the pins above are all it needs.
COPY --chown=airflow:0 pyproject.toml /opt/airflow/pyproject.toml
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
COPY --chown=airflow:0 usecases /opt/airflow/usecases
COPY --chown=airflow:0 docker /opt/airflow/docker
ENV MLOPS_HOME=/opt/mlops \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    GX_ANALYTICS_ENABLED=False \
    MLFLOW_ENABLE_TELEMETRY=False \
    DO_NOT_TRACK=1

USER airflow
RUN pip install --no-cache-dir --no-deps -e /opt/airflow \
    && python -c 'import mlops, mlops_airflow, usecases'
