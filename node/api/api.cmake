# api.cmake: md_api, the HTTP API and the renderers of a view (JSON, metrics, status block), and
# the dashboard page, embedded from node/api/web/ by cmake/embed_web.cmake at build time.
set(MD_WEB_DIR ${CMAKE_SOURCE_DIR}/node/api/web)
set(MD_WEB_FILES ${MD_WEB_DIR}/dashboard.html ${MD_WEB_DIR}/dashboard.css ${MD_WEB_DIR}/dashboard.js
    ${MD_WEB_DIR}/favicon.svg)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/web_assets.c
  COMMAND ${CMAKE_COMMAND} -DWEB=${MD_WEB_DIR} -DOUT=${CMAKE_BINARY_DIR}/web_assets.c
          -P ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  DEPENDS ${MD_WEB_FILES} ${CMAKE_SOURCE_DIR}/cmake/embed_web.cmake
  COMMENT "Embedding the dashboard (node/api/web)")

md_module(md_api api
  SOURCES api.c http_parse.c page.c render_stream.c render_json.c render_history.c render_metrics.c
    render_failover.c status_print.c
  LIBS md_view md_base md_health md_util PkgConfig::UV PkgConfig::CJSON)
target_sources(md_api PRIVATE ${CMAKE_BINARY_DIR}/web_assets.c)

foreach(t IN ITEMS test_http_parse test_render test_page test_render_failover test_status_print)
  md_test(unit.${t} SOURCES tests/unit/${t}.c LIBS md_api)
endforeach()
