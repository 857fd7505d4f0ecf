# railway.cmake: the md_railway library (the Railway GraphQL client: libcurl and cJSON only), the
# fake Railway API, the client's unit and integration tests, and the schema contract test.
# Included from the top-level CMakeLists.txt.
add_library(md_railway STATIC
  railway/util.c
  railway/answer.c
  railway/documents.c
  railway/client.c
  railway/request.c
  railway/ops.c
)
target_include_directories(md_railway PUBLIC railway)
target_link_libraries(md_railway PUBLIC md_util PkgConfig::CURL PkgConfig::CJSON)

# The fake Railway API: a real program the integration tests (and the remediation tests) run.
add_executable(fake_railway
  tests/fakes/fake_railway.c
  tests/fakes/fake_railway_http.c
  tests/fakes/fake_railway_model.c
  tests/fakes/fake_railway_gql.c
  tests/fakes/fake_railway_exec.c
)
target_link_libraries(fake_railway PRIVATE PkgConfig::UV PkgConfig::CJSON)

# A loop for tests: the node's curl multi driver (node/curl_loop.c) and process helpers, plus the
# fake's fixture. Compiled in, so these tests do not depend on the whole md_node library.
add_library(rw_test_host STATIC
  tests/integration/it_railway_host.c
  node/curl_loop.c
  node/proc.c
)
target_include_directories(rw_test_host PUBLIC tests/integration node)
target_link_libraries(rw_test_host PUBLIC md_railway PkgConfig::UV PkgConfig::CURL PkgConfig::CJSON)
target_compile_definitions(rw_test_host PUBLIC
  FAKE_RAILWAY_BIN="$<TARGET_FILE:fake_railway>"
  FLAKY_BIN="$<TARGET_FILE:flaky_service>")

add_executable(test_railway tests/unit/test_railway.c)
target_link_libraries(test_railway PRIVATE md_railway PkgConfig::CMOCKA)
add_test(NAME unit.test_railway COMMAND test_railway)
set_tests_properties(unit.test_railway PROPERTIES LABELS unit TIMEOUT 120 SKIP_RETURN_CODE 77)

add_executable(it_railway tests/integration/it_railway.c)
target_link_libraries(it_railway PRIVATE rw_test_host PkgConfig::CMOCKA)
add_dependencies(it_railway fake_railway flaky_service)
add_test(NAME integration.it_railway COMMAND it_railway)
set_tests_properties(integration.it_railway PROPERTIES LABELS integration TIMEOUT 300
  SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# The schema contract: every document the client sends, and the fake's answers to the client's
# calls, checked against Railway's published schema with graphql-js (tests/schema/check.js).
add_executable(rw_schema_driver tests/schema/schema_driver.c)
target_link_libraries(rw_schema_driver PRIVATE rw_test_host)
add_dependencies(rw_schema_driver fake_railway flaky_service)
find_program(MD_NODE_BIN NAMES node nodejs)
if(MD_NODE_BIN)
  add_test(NAME schema.railway
    COMMAND ${MD_NODE_BIN} ${CMAKE_SOURCE_DIR}/tests/schema/check.js $<TARGET_FILE:rw_schema_driver>)
else()
  add_test(NAME schema.railway COMMAND sh -c "echo 'schema.railway: node is not installed (scripts/bootstrap)'; exit 77")
endif()
set_tests_properties(schema.railway PROPERTIES LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77
  RUN_SERIAL TRUE)
