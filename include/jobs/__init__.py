"""Job entry scripts: EMR steps (spark-submit) and Glue jobs. Thin: args, session, extract/transform/load."""
