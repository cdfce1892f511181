# config tests
hpff_test(test_config cpu test_config.c)     # config keys, INI/--set errors, validate, write/help/diff
hpff_test(test_metrics cpu test_metrics.c)   # JSON-lines metrics, timing and mkdir helpers
