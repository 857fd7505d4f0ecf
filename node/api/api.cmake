# api.cmake: md_api, the HTTP API and the renderers of a view (JSON, metrics, status block).
md_module(md_api api
  SOURCES api.c http_parse.c render_json.c render_metrics.c render_failover.c status_print.c
  LIBS md_view md_base md_health md_util PkgConfig::UV PkgConfig::CJSON)

foreach(t IN ITEMS test_http_parse test_render test_render_failover)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_api)
endforeach()
