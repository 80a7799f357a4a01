"""The declared pipeline spec (conf/pipeline) turned into Kedro pipelines."""
