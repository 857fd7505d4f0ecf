# base.cmake: md_base, the plumbing every node module shares (clocks, log, curl loop, processes).
md_module(md_base base
  SOURCES clock.c log.c proc.c curl_loop.c curl_mem.c fetch.c loop_meter.c
  LIBS md_util PkgConfig::UV PkgConfig::CURL)

md_test(unit.test_log SOURCES tests/unit/test_log.c LIBS md_base PkgConfig::CJSON)
md_test(unit.test_free_port SOURCES tests/unit/test_free_port.c LIBS md_base)
md_test(unit.test_curl_loop SOURCES tests/unit/test_curl_loop.c LIBS md_base)
md_test(unit.test_curl_mem SOURCES tests/unit/test_curl_mem.c LIBS md_base)
