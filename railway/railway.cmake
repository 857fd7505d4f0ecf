# railway.cmake: the md_railway library (the Railway GraphQL client: libcurl and cJSON only).
# Included from the top-level CMakeLists.txt; its tests, the fake Railway API and the schema
# contract test are in tests/tests.cmake.
add_library(md_railway STATIC
  railway/util.c
  railway/pace.c
  railway/answer.c
  railway/documents.c
  railway/client.c
  railway/request.c
  railway/ops.c
  railway/token_check.c
  railway/call.c
)
target_include_directories(md_railway PUBLIC railway)
target_link_libraries(md_railway PUBLIC md_util PkgConfig::CURL PkgConfig::CJSON)
