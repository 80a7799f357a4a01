"""Operations files generated from conf/: Prometheus rules and scrape config."""
