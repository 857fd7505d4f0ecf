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
target_link_libraries(md_railway PUBLIC PkgConfig::CURL PkgConfig::CJSON)

if(NOT MEDIC_TESTS)
  return()
endif()

# The fake Railway API: a real program the integration tests (and the remediation tests) run.
add_executable(fake_railway
  tests/fakes/fake_railway.c
  tests/fakes/fake_railway_http.c
  tests/fakes/fake_railway_model.c
  tests/fakes/fake_railway_gql.c
  tests/fakes/fake_railway_exec.c
)
target_link_libraries(fake_railway PRIVATE PkgConfig::UV PkgConfig::CJSON)

# A loop for tests: the node's curl multi driver and process helpers (md_base) hosting the client,
# plus the fake's fixture.
add_library(rw_test_host STATIC tests/integration/it_railway_host.c)
target_include_directories(rw_test_host PUBLIC tests/integration)
target_link_libraries(rw_test_host PUBLIC md_railway md_base PkgConfig::UV PkgConfig::CURL PkgConfig::CJSON)
target_compile_definitions(rw_test_host PUBLIC
  FAKE_RAILWAY_BIN="$<TARGET_FILE:fake_railway>"
  FLAKY_BIN="$<TARGET_FILE:flaky_service>")

md_test(unit.test_railway SOURCES tests/unit/test_railway.c LIBS md_railway)
md_test(integration.it_railway SERIAL SOURCES tests/integration/it_railway.c LIBS rw_test_host
  DEPENDS fake_railway flaky_service)

# The schema contract: every document the client sends, and the fake's answers to the client's
# calls, checked against Railway's published schema with graphql-js (tests/schema/check.js).
add_executable(rw_schema_driver tests/schema/schema_driver.c)
target_link_libraries(rw_schema_driver PRIVATE rw_test_host)
add_dependencies(rw_schema_driver fake_railway flaky_service)
find_program(MD_NODE_BIN NAMES node nodejs)
if(MD_NODE_BIN)
  md_test(schema.railway LABEL integration SERIAL
    COMMAND ${MD_NODE_BIN} ${CMAKE_SOURCE_DIR}/tests/schema/check.js $<TARGET_FILE:rw_schema_driver>)
else()
  md_test(schema.railway LABEL integration
    COMMAND sh -c "echo 'schema.railway: node is not installed (scripts/bootstrap)'; exit 77")
endif()
