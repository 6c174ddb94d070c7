#!/usr/bin/env bash
# Starts a local Spark Connect server (from the PyPI pyspark package, which ships the server's
# jar but not sbin/start-connect-server.sh) on 127.0.0.1 only, in the foreground.
#
#   testdata/spark_connect_server.sh VENV [PORT]
#
# VENV is a Python venv with pyspark 4 installed; PORT defaults to 15002. Needs Java 17+.
# The server runs Spark in local mode with 2 threads, the session time zone UTC, and its
# scratch files under a temporary directory. Stop it by killing the process (CI traps that).
set -euo pipefail
venv=${1:?usage: spark_connect_server.sh VENV [PORT]}
port=${2:-15002}
spark_home=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
jar=$(ls "$spark_home"/jars/spark-connect_*.jar 2>/dev/null | head -n 1 || true)
if [ -z "$jar" ]; then
    echo "spark_connect_server.sh: no spark-connect jar in $spark_home/jars (pyspark 4 needed)" >&2
    exit 2
fi
scratch=$(mktemp -d -t segmint-spark.XXXXXX)
export SPARK_HOME=$spark_home
export SPARK_LOCAL_IP=127.0.0.1
export SPARK_LOCAL_DIRS=$scratch
exec "$spark_home/bin/spark-submit" \
    --class org.apache.spark.sql.connect.service.SparkConnectServer \
    --name "segmint Spark Connect server" \
    --master "local[2]" \
    --driver-memory 2g \
    --conf spark.connect.grpc.binding.address=127.0.0.1 \
    --conf spark.connect.grpc.binding.port="$port" \
    --conf spark.sql.session.timeZone=UTC \
    --conf spark.ui.enabled=false \
    --conf spark.sql.warehouse.dir="$scratch/warehouse" \
    --conf spark.driver.extraJavaOptions="-Djava.io.tmpdir=$scratch -Dderby.system.home=$scratch" \
    spark-internal
