"""A small Spark job whose JVM writes the class archive every other Spark of the tests maps at start
(tests/fixtures/spark_jvm.py): it loads the classes a test's job loads (DataFrames, a shuffle, a Python RDD,
JSON read and write), so that they come from the archive instead of being read from the jars and verified."""

import sys
import tempfile

from pyspark.sql import SparkSession

spark = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
with tempfile.TemporaryDirectory() as folder:
    df = spark.createDataFrame([(i, str(i % 7)) for i in range(200)], "a int, b string")
    df.groupBy("b").count().write.json(f"{folder}/out")
    total = spark.read.json(f"{folder}/out").selectExpr("sum(count) AS n").first()["n"]
    doubled = spark.sparkContext.parallelize(range(10), 2).map(lambda x: x * 2).sum()
spark.stop()
sys.exit(0 if (total, doubled) == (200, 90) else 1)
